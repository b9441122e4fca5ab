// One huge run: a streamed request whose last user text is 1 MiB of 'x' (the worst case for a
// BPE tokeniser: its cost grows with the square of a run's length), then ordinary 1 KB turns right
// behind it. Is the huge one answered and counted, what does it cost the worker, and are the ordinary
// ones counted without waiting for it?
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { createKeyspace } from '@switchyard/shared';
import { claudeCodeHeaders, smallBody } from '../bodies.js';
import { exchange } from '../client.js';
import type { BenchContext } from '../context.js';
import { bodyTemplate, fill } from '../mixed-load.js';
import { cpuMs } from '../proc-stats.js';
import { openUsageQueue, settleUsage, type UsageQueue } from '../usage-queue.js';

/** What the huge request and the ordinary ones after it showed. */
export interface HugeRunResult {
  runChars: number;
  bodyBytes: number;
  status: number;
  /** A 200 whose stream reached message_stop. */
  answered: boolean;
  /** The gateway's own id for it (from its access log line, joined on the upstream's `request-id`). */
  requestId: string | null;
  /** Its entry appeared in the recent list. */
  counted: boolean;
  /** From sending it until its entry appeared. */
  countedAfterMs: number | null;
  /** The entry says its estimate is partly from text length (the tokeniser's budget ran out). */
  estimateApproximate: boolean | null;
  estimatedInputTokens: number | null;
  /** The worker's CPU from just before the request until it was counted (or the wait gave up). */
  workerCpuMs: number;
  ordinary: {
    sent: number;
    errors: number;
    counted: number;
    /** From the last ordinary response until the last of them was counted; null: not all within the wait. */
    lastCountedAfterMs: number | null;
  };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The gateway's id for the request the upstream answered as `upstreamRequestId`, from its log after `offset`. */
async function gatewayRequestId(
  logFile: string,
  offset: number,
  upstreamRequestId: string,
  timeoutMs: number,
): Promise<string | null> {
  const deadline = performance.now() + timeoutMs;
  do {
    const size = statSync(logFile).size;
    const fd = openSync(logFile, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.includes(upstreamRequestId) || !line.includes('"message":"request"')) continue;
      const entry = JSON.parse(line) as { requestId?: unknown };
      if (typeof entry.requestId === 'string') return entry.requestId;
    }
    await pause(50);
  } while (performance.now() < deadline);
  return null;
}

/**
 * The huge body: the 1 KB turn with its user text replaced by `chars` 'x' characters. Of the single-character runs,
 * letters cost js-tiktoken the most (docs/USAGE.md, "Tokenising in linear time"): '=' and spaces merge into long
 * tokens cheaply, 'x' does not, so this is the input the budget is for.
 */
function hugeBody(chars: number): Buffer {
  const body = JSON.parse(smallBody({ sessionId: 'bench-huge' }).toString('utf8')) as {
    messages: { content: { text: string }[] }[];
  };
  const block = body.messages.at(-1)?.content[0];
  if (block === undefined) throw new Error('the 1 KB body has no user text');
  block.text = 'x'.repeat(chars);
  return Buffer.from(JSON.stringify(body));
}

interface Counting {
  entry: { estimateApproximate?: boolean; estimatedInputTokens?: number } | undefined;
  countedAt: number | undefined;
  /** The worker's CPU since `cpu0` when the entry appeared (or when the wait gave up). */
  workerCpuMs: number;
  ordinaryCounted: number;
  lastCountedAt: number | undefined;
}

/**
 * Polls the recent list for the huge request's entry and `usage:total` for the ordinary ones (the growth
 * beyond the huge one), until both are in or `waitMs` after `since`.
 */
async function watchCounting(
  ctx: BenchContext,
  usage: UsageQueue,
  o: { requestId: string | null; before: number; ordinary: number; cpu0: number; since: number; waitMs: number },
): Promise<Counting> {
  const { stack } = ctx;
  const recentKey = createKeyspace(stack.prefix).recent();
  const w: Counting = {
    entry: undefined,
    countedAt: undefined,
    workerCpuMs: 0,
    ordinaryCounted: 0,
    lastCountedAt: undefined,
  };
  while (performance.now() - o.since < o.waitMs) {
    if (w.entry === undefined && o.requestId !== null) {
      const id = o.requestId;
      const line = (await stack.redis.lrange(recentKey, 0, -1)).find((l) => l.includes(id));
      if (line !== undefined) {
        w.countedAt = performance.now();
        w.workerCpuMs = cpuMs(stack.worker.pid) - o.cpu0;
        w.entry = JSON.parse(line) as Counting['entry'];
      }
    }
    // Without the huge one's id its own count cannot be told apart: then the growth is read as ordinary ones.
    w.ordinaryCounted = Math.min(o.ordinary, (await usage.counted()) - o.before - (w.entry === undefined ? 0 : 1));
    if (w.ordinaryCounted === o.ordinary) w.lastCountedAt ??= performance.now();
    if (w.entry !== undefined && w.lastCountedAt !== undefined) break;
    await pause(50);
  }
  if (w.entry === undefined) w.workerCpuMs = cpuMs(stack.worker.pid) - o.cpu0;
  return w;
}

/**
 * Sends the huge request, then `ordinary` 1 KB turns five at a time; waits up to `waitMs` for all to be counted.
 * @example
 * const r = await hugeRun(ctx, 1 << 20, 50, 60_000);
 */
export async function hugeRun(
  ctx: BenchContext,
  runChars: number,
  ordinary: number,
  waitMs: number,
): Promise<HugeRunResult> {
  const { stack } = ctx;
  const usage = openUsageQueue(stack);
  try {
    if (!(await settleUsage(usage, ctx.chainRequestsSent(), ctx.counts.accountingWaitMs)))
      ctx.log('  earlier usage jobs were still being counted; going on anyway');
    const before = await usage.counted();
    const target = ctx.target('chain', 5);
    const body = hugeBody(runChars);
    const logOffset = statSync(stack.gateway.logFile).size;

    // 1. The huge request, the worker's CPU clock started just before it.
    const cpu0 = cpuMs(stack.worker.pid);
    const sentAt = performance.now();
    const huge = await exchange(target, body, claudeCodeHeaders('bench-huge'));
    const requestId =
      huge.upstreamRequestId === undefined
        ? null
        : await gatewayRequestId(stack.gateway.logFile, logOffset, huge.upstreamRequestId, 5_000);

    // 2. Ordinary turns right behind it, five at a time.
    const template = bodyTemplate(smallBody({ sessionId: 'bench-huge-ordinary' }), 'bench-huge-ordinary');
    let errors = 0;
    for (let i = 0; i < ordinary; i += 5) {
      const batch = Array.from({ length: Math.min(5, ordinary - i) }, (_, j) =>
        exchange(target, fill(template, true, `after huge ${i + j}`), template.headers),
      );
      errors += (await Promise.all(batch)).filter((x) => !x.ok).length;
    }
    const ordinaryDoneAt = performance.now();

    // 3. Until the huge one's entry is in the recent list and the counter holds all of them.
    const w = await watchCounting(ctx, usage, { requestId, before, ordinary, cpu0, since: ordinaryDoneAt, waitMs });
    const { entry, countedAt, workerCpuMs, ordinaryCounted, lastCountedAt } = w;
    ctx.log(
      `  huge request ${huge.status}, ${entry === undefined ? 'not counted' : `counted after ${Math.round((countedAt ?? 0) - sentAt)} ms`}, worker CPU ${workerCpuMs} ms; ${ordinaryCounted}/${ordinary} ordinary counted`,
    );
    return {
      runChars,
      bodyBytes: body.length,
      status: huge.status,
      answered: huge.ok,
      requestId,
      counted: entry !== undefined,
      countedAfterMs: countedAt === undefined ? null : Math.round(countedAt - sentAt),
      estimateApproximate: entry?.estimateApproximate ?? null,
      estimatedInputTokens: entry?.estimatedInputTokens ?? null,
      workerCpuMs,
      ordinary: {
        sent: ordinary,
        errors,
        counted: ordinaryCounted,
        lastCountedAfterMs: lastCountedAt === undefined ? null : Math.round(lastCountedAt - ordinaryDoneAt),
      },
    };
  } finally {
    await usage.close();
  }
}
