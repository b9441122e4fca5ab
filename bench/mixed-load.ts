// The accounting scenarios' load: clients sending back to back through the chain, each with its own
// session and conversation, 60% streamed and 40% not, one request in ten aborted by the client after the
// first response bytes (a cancelled turn), and every request's last user text made unique, so every
// usage job brings one block the worker has never tokenised.
import { send, type Target } from './client.js';
import { claudeCodeHeaders } from './bodies.js';

/** One client's body, cut at the point where the request's unique suffix goes, streamed and not. */
export interface BodyTemplate {
  sessionId: string;
  headers: Record<string, string>;
  streamed: [string, string];
  plain: [string, string];
}

const MARK = '@@bench-request@@';

type Content = string | { type: string; text?: string }[];

function cut(
  body: Record<string, unknown> & { messages: { role: string; content: Content }[] },
  stream: boolean,
): [string, string] {
  const copy = { ...body, stream, messages: [...body.messages] };
  const lastIndex = copy.messages.length - 1;
  const last = copy.messages[lastIndex];
  if (last?.role !== 'user') throw new Error('the body does not end with a user message');
  if (typeof last.content === 'string') copy.messages[lastIndex] = { ...last, content: `${last.content} ${MARK}` };
  else {
    const blocks = [...last.content];
    const at = blocks.map((b) => b.type).lastIndexOf('text');
    const block = blocks[at];
    if (block === undefined) throw new Error('the last user message has no text block');
    blocks[at] = { ...block, text: `${block.text ?? ''} ${MARK}` };
    copy.messages[lastIndex] = { ...last, content: blocks };
  }
  const json = JSON.stringify(copy);
  const i = json.indexOf(MARK);
  return [json.slice(0, i), json.slice(i + MARK.length)];
}

/**
 * Prepares `body` (a Claude Code-shaped request) for a client of session `sessionId`.
 * @example
 * const t = bodyTemplate(smallBody({ sessionId: 's1' }), 's1'); const buf = fill(t, true, 'r1');
 */
export function bodyTemplate(body: Buffer, sessionId: string): BodyTemplate {
  const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown> & {
    messages: { role: string; content: Content }[];
  };
  return { sessionId, headers: claudeCodeHeaders(sessionId), streamed: cut(parsed, true), plain: cut(parsed, false) };
}

/** The body with `suffix` at the end of its last user text. */
export function fill(t: BodyTemplate, stream: boolean, suffix: string): Buffer {
  const [head, tail] = stream ? t.streamed : t.plain;
  return Buffer.from(`${head}(request ${suffix})${tail}`);
}

/** What the clients did. */
export interface LoadResult {
  clients: number;
  /** From the first request until the last response ended (or was aborted). */
  wallMs: number;
  /** Requests started (every one is a usage job). */
  sent: number;
  /** 200s read to the end. */
  answered: number;
  /** Hung up on purpose after the first bytes. */
  aborted: number;
  errors: number;
  /** Error kind → how many (`status 529`, `ECONNRESET`, …). */
  errorKinds: Record<string, number>;
  /** Requests started per second of wall time. */
  rps: number;
}

/** The mix of the request a client sends as its `i`-th: streamed 6 in 10, aborted 1 in 10 (streamed ones). */
export function mix(i: number): { stream: boolean; abort: boolean } {
  const k = i % 10;
  return { stream: k < 6, abort: k === 0 };
}

/**
 * `templates.length` clients, each sending back to back until `durationMs` passed (requests started
 * before the deadline run to their end).
 * @example
 * const r = await mixedLoad(ctx.target('chain', 20), templates, 120_000, 'soak');
 */
export async function mixedLoad(
  target: Target,
  templates: BodyTemplate[],
  durationMs: number,
  label: string,
): Promise<LoadResult> {
  const result: LoadResult = {
    clients: templates.length,
    wallMs: 0,
    sent: 0,
    answered: 0,
    aborted: 0,
    errors: 0,
    errorKinds: {},
    rps: 0,
  };
  const sentBefore = target.sent;
  const started = performance.now();
  const until = started + durationMs;
  const client = async (t: BodyTemplate, c: number): Promise<void> => {
    // Clients start at different points of the mix, so their aborts do not come in lockstep.
    for (let i = c; performance.now() < until; i++) {
      const { stream, abort } = mix(i);
      const x = await send(target, fill(t, stream, `${label} ${c}.${i}`), t.headers, {
        stream,
        abortAfterFirstBytes: abort,
      });
      if (x.aborted) result.aborted++;
      else if (x.ok) result.answered++;
      else {
        result.errors++;
        const kind = x.error ?? 'unknown';
        result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1;
      }
    }
  };
  await Promise.all(templates.map(client));
  result.wallMs = Math.round(performance.now() - started);
  result.sent = target.sent - sentBefore;
  result.rps = Math.round((result.sent / result.wallMs) * 1_000);
  return result;
}
