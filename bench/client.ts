// The load generator's client: node:http over keep-alive agents, the SSE parsed as it arrives.
import http from 'node:http';

/** Where a request goes: straight to the fake upstream, or through gateway → node → fake. */
export type Route = 'direct' | 'chain';

/** One way in, with its own keep-alive agent and credential header. */
export interface Target {
  route: Route;
  host: string;
  port: number;
  agent: http.Agent;
  /** The credential header for this way in (the fake's API key, or the gateway key). */
  credential: Record<string, string>;
  /** Requests started through this target so far. */
  sent: number;
}

/** What one request did, timed from just before the request was created. */
export interface Exchange {
  route: Route;
  /** 200 and a complete stream (its message_stop frame arrived). */
  ok: boolean;
  status: number;
  error?: string;
  headersMs: number;
  /** When the first whole frame carrying a text_delta arrived. */
  firstTextMs: number;
  totalMs: number;
  bytes: number;
  frames: number;
  /** The whole body, when asked for. */
  text?: string;
  /** The upstream's request id (the `request-id` header), which the gateway's and node's log lines carry too. */
  upstreamRequestId?: string;
}

/**
 * A target with a keep-alive agent that never makes a request wait for a socket.
 * @example
 * const direct = createTarget('direct', fake.url, { 'x-api-key': apiKey }, 256);
 */
export function createTarget(
  route: Route,
  baseUrl: string,
  credential: Record<string, string>,
  maxSockets: number,
): Target {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
  return { route, host: url.hostname, port: Number(url.port), agent, credential, sent: 0 };
}

/** A client format: the path it posts to and how its stream shows the first text and its end. */
export interface Wire {
  path: string;
  isText(frame: string): boolean;
  isEnd(frame: string): boolean;
}

/** Anthropic's Messages API, as Claude Code calls it. */
export const MESSAGES_WIRE: Wire = {
  path: '/v1/messages?beta=true',
  isText: (frame) => frame.includes('"text_delta"'),
  isEnd: (frame) => frame.startsWith('event: message_stop'),
};

/** OpenAI's Chat Completions (docs/OPENAI.md): text in `delta.content`, the end as `data: [DONE]`. */
export const CHAT_WIRE: Wire = {
  path: '/v1/chat/completions',
  isText: (frame) => frame.includes('"content":"') && !frame.includes('"content":""'),
  isEnd: (frame) => frame === 'data: [DONE]',
};

function requestOptions(
  target: Target,
  headers: Record<string, string>,
  body: Buffer,
  agent: http.Agent,
  path = MESSAGES_WIRE.path,
): http.RequestOptions {
  target.sent++;
  return {
    host: target.host,
    port: target.port,
    method: 'POST',
    path,
    agent,
    headers: { ...headers, ...target.credential, 'content-length': String(body.length) },
  };
}

/** Splits arriving text into SSE frames; calls back per whole frame. */
function frameSplitter(onFrame: (frame: string) => void): (chunk: string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk;
    let cut = pending.indexOf('\n\n');
    while (cut >= 0) {
      onFrame(pending.slice(0, cut));
      pending = pending.slice(cut + 2);
      cut = pending.indexOf('\n\n');
    }
  };
}

/**
 * Sends one streaming request and reads the whole answer. Never rejects: failures come back as
 * `ok: false` with the status or the error code.
 * @example
 * const x = await exchange(chain, body, claudeCodeHeaders('s'));
 * if (x.ok) latencies.push(x.totalMs);
 */
export function exchange(
  target: Target,
  body: Buffer,
  headers: Record<string, string>,
  opts: { keepText?: boolean; agent?: http.Agent; wire?: Wire } = {},
): Promise<Exchange> {
  const wire = opts.wire ?? MESSAGES_WIRE;
  return new Promise((resolve) => {
    const started = performance.now();
    const x: Exchange = {
      route: target.route,
      ok: false,
      status: 0,
      headersMs: Number.NaN,
      firstTextMs: Number.NaN,
      totalMs: Number.NaN,
      bytes: 0,
      frames: 0,
    };
    let done = false;
    let stopped = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      x.totalMs = performance.now() - started;
      x.ok = error === undefined && x.status === 200 && stopped;
      if (error !== undefined) x.error = error;
      else if (!x.ok) x.error = x.status === 200 ? 'incomplete stream' : `status ${x.status}`;
      resolve(x);
    };
    const split = frameSplitter((frame) => {
      x.frames++;
      if (Number.isNaN(x.firstTextMs) && wire.isText(frame)) x.firstTextMs = performance.now() - started;
      if (wire.isEnd(frame)) stopped = true;
    });
    const req = http.request(requestOptions(target, headers, body, opts.agent ?? target.agent, wire.path), (res) => {
      x.status = res.statusCode ?? 0;
      x.headersMs = performance.now() - started;
      const id = res.headers['request-id'];
      if (typeof id === 'string') x.upstreamRequestId = id;
      res.setEncoding('utf8');
      if (opts.keepText) x.text = '';
      res.on('data', (chunk: string) => {
        x.bytes += Buffer.byteLength(chunk);
        if (x.text !== undefined) x.text += chunk;
        split(chunk);
      });
      res.on('end', () => finish());
      res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
      res.on('close', () => finish(res.complete ? undefined : 'response closed early'));
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    req.end(body);
  });
}

/** A stream the bench holds open and aborts later. */
export interface HeldStream {
  /** Resolves true once the message_start frame arrived, false when the request failed first. */
  opened: Promise<boolean>;
  /** Destroys the request (the client hangs up). */
  abort(): void;
}

/**
 * Starts a streaming request and keeps it open until `abort()`.
 * @example
 * const held = holdStream(chain, body, headers, agent); await held.opened; held.abort();
 */
export function holdStream(
  target: Target,
  body: Buffer,
  headers: Record<string, string>,
  agent: http.Agent,
): HeldStream {
  let settle: (ok: boolean) => void = () => undefined;
  const opened = new Promise<boolean>((resolve) => (settle = resolve));
  const split = frameSplitter((frame) => {
    if (frame.startsWith('event: message_start')) settle(true);
  });
  const req = http.request(requestOptions(target, headers, body, agent), (res) => {
    if (res.statusCode !== 200) settle(false);
    res.setEncoding('utf8');
    res.on('data', split);
    res.on('error', () => settle(false));
    res.on('close', () => settle(false));
  });
  req.on('error', () => settle(false));
  req.end(body);
  return { opened, abort: () => req.destroy() };
}

/** What one request of a mixed load did. */
export interface Sent {
  status: number;
  /** A 200 read to its end (streams: their message_stop frame arrived). */
  ok: boolean;
  /** The client hung up on purpose after the first response bytes of a 200. */
  aborted: boolean;
  error?: string;
  totalMs: number;
}

/**
 * Sends one request, streamed or not, and reads the answer; with `abortAfterFirstBytes` it destroys
 * the request as soon as the first bytes of a 200 arrived (a cancelled turn). Never rejects.
 * @example
 * const x = await send(chain, body, headers, { stream: true, abortAfterFirstBytes: false });
 */
export function send(
  target: Target,
  body: Buffer,
  headers: Record<string, string>,
  opts: { stream: boolean; abortAfterFirstBytes: boolean },
): Promise<Sent> {
  return new Promise((resolve) => {
    const started = performance.now();
    const x: Sent = { status: 0, ok: false, aborted: false, totalMs: Number.NaN };
    let done = false;
    let stopped = !opts.stream;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      x.totalMs = performance.now() - started;
      x.ok = !x.aborted && error === undefined && x.status === 200 && stopped;
      if (x.aborted) return resolve(x);
      if (error !== undefined) x.error = error;
      else if (!x.ok) x.error = x.status === 200 ? 'incomplete stream' : `status ${x.status}`;
      resolve(x);
    };
    const split = frameSplitter((frame) => {
      if (frame.startsWith('event: message_stop')) stopped = true;
    });
    const req = http.request(requestOptions(target, headers, body, target.agent), (res) => {
      x.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (opts.abortAfterFirstBytes && x.status === 200) {
          x.aborted = true;
          req.destroy();
          finish();
          return;
        }
        if (opts.stream) split(chunk);
      });
      res.on('end', () => finish());
      res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
      res.on('close', () => finish(res.complete ? undefined : 'response closed early'));
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    req.end(body);
  });
}
