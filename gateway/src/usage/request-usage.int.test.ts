// One draft per request, whatever happens to it: a real HTTP server whose handler is shaped like the
// messages route (track → parse → forward → settle in finally; a thrown refusal written afterwards).
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, writeErrorResponse } from '@switchyard/shared';
import { waitFor } from '@switchyard/testkit';
import type { ForwardOutcome } from '../proxy/index.js';
import { trackRequestUsage, type RequestUsage } from './request-usage.js';
import { usageJobOf, type UsageDraft } from './usage-draft.js';

type Behaviour = (req: IncomingMessage, res: ServerResponse, usage: RequestUsage, requestId: string) => Promise<void>;

const SSE_HEAD = { 'content-type': 'text/event-stream', 'request-id': 'req_upstream_1' };
const frame = (event: string, data: unknown) => Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
const START = frame('message_start', {
  type: 'message_start',
  message: { id: 'msg_1', model: 'm', usage: { input_tokens: 42, output_tokens: 1 } },
});
const DELTA = frame('content_block_delta', {
  type: 'content_block_delta',
  index: 0,
  delta: { type: 'text_delta', text: 'hello' },
});
const END = [
  frame('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }),
  frame('message_stop', { type: 'message_stop' }),
];
const BODY = {
  model: 'claude-sonnet-4-6',
  stream: true,
  system: 'be brief',
  messages: [{ role: 'user', content: 'hi' }],
};

let server: Server;
let url: string;
let drafts: UsageDraft[];
let behaviour: Behaviour;
let settled: Promise<void>;
let seq = 0;

const recorder = { record: (d: UsageDraft) => void drafts.push(d) };

beforeAll(async () => {
  server = createServer((req, res) => {
    const requestId = `req_gw_${++seq}`;
    let done!: () => void;
    settled = new Promise((r) => (done = r));
    // As the route: settle() in finally, then the error handler writes a thrown refusal.
    const route = async () => {
      // The Chat Completions route names itself; the messages route passes no route (the default).
      const api = req.url === '/v1/chat/completions' ? { route: 'chat_completions' as const } : {};
      const usage = trackRequestUsage(res, recorder, {
        requestId,
        keyId: 'key-a',
        at: Date.now(),
        startedAt: performance.now(),
        ...api,
      });
      try {
        await behaviour(req, res, usage, requestId);
      } finally {
        usage.settle();
      }
    };
    route()
      .catch((err: unknown) => writeErrorResponse(res, err, requestId))
      .finally(done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));
beforeEach(() => {
  drafts = [];
});

function closed(res: ServerResponse): Promise<void> {
  return res.closed ? Promise.resolve() : new Promise((r) => res.once('close', () => r()));
}

/** Reads the body and relays an answer as the forwarder does: head, chunks (each shown to the capture), end. */
async function relay(
  req: IncomingMessage,
  res: ServerResponse,
  usage: RequestUsage,
  chunks: Buffer[],
  opts: { abortAfter?: number } = {},
): Promise<ForwardOutcome> {
  let body = '';
  for await (const c of req) body += (c as Buffer).toString();
  usage.parsed({ ...(JSON.parse(body) as typeof BODY), model: BODY.model, stream: true });
  usage.capture.onHead(200, SSE_HEAD);
  res.writeHead(200, SSE_HEAD);
  for (const [i, chunk] of chunks.entries()) {
    if (opts.abortAfter !== undefined && i >= opts.abortAfter) {
      // The client hangs up: the forwarder notices the close and reports.
      await closed(res);
      return {
        nodeId: 'node-1',
        status: 200,
        failovers: 0,
        ttfbMs: 1,
        aborted: true,
        brokeMidStream: false,
        upstreamRequestId: 'req_upstream_1',
      };
    }
    res.write(chunk);
    usage.capture.onChunk(chunk);
    await new Promise((r) => setImmediate(r));
  }
  res.end();
  return {
    nodeId: 'node-1',
    status: 200,
    failovers: 0,
    ttfbMs: 1,
    aborted: false,
    brokeMidStream: false,
    upstreamRequestId: 'req_upstream_1',
  };
}

/** Sends the body; `hangUp` destroys the request once the first byte arrives, or once `after` resolves (before any answer). */
function send(
  hangUp?: 'first-byte' | { after: Promise<void> },
  path = '/v1/messages',
): Promise<{ status: number; body: string } | 'aborted'> {
  return new Promise((resolve) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
        if (hangUp === 'first-byte') req.destroy();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve('aborted'));
      res.on('close', () => resolve('aborted'));
    });
    req.on('error', () => resolve('aborted'));
    req.end(JSON.stringify(BODY));
    if (typeof hangUp === 'object') void hangUp.after.then(() => req.destroy());
  });
}

/**
 * Waits for the handler to settle and the draft to be recorded (at settle or at the response's close, whichever
 * comes second), then a moment for anything late: a second draft would be one too many. Returns the drafts.
 */
async function draftsAfter(): Promise<UsageDraft[]> {
  await settled;
  await waitFor('the draft', () => drafts.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  return drafts;
}

test('a normal streamed request: one draft, with the node, the capture and the prompt', async () => {
  behaviour = async (req, res, usage) => usage.forwarded(await relay(req, res, usage, [START, DELTA, ...END]));
  const answer = await send();
  expect(answer).toMatchObject({ status: 200 });
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  expect(d).toMatchObject({
    keyId: 'key-a',
    route: 'messages',
    nodeId: 'node-1',
    model: BODY.model,
    stream: true,
    status: 200,
    aborted: false,
    brokeMidStream: false,
  });
  expect(d?.prompt).toEqual({ tools: undefined, system: 'be brief', messages: BODY.messages });
  expect(d?.capture?.result()).toMatchObject({
    usage: { inputTokens: 42, outputTokens: 9 },
    stopReason: 'end_turn',
    endedCleanly: true,
  });
});

test('a request tracked with route chat_completions: its draft names the route, and becomes a job that does', async () => {
  behaviour = async (req, res, usage) => usage.forwarded(await relay(req, res, usage, [START, DELTA, ...END]));
  expect(await send(undefined, '/v1/chat/completions')).toMatchObject({ status: 200 });
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  expect(d).toMatchObject({ route: 'chat_completions', nodeId: 'node-1', status: 200 });
  expect(usageJobOf(d!, d?.capture?.result(), null).route).toBe('chat_completions');
});

test('the client hangs up mid-stream: one draft, aborted, with the usage that got through', async () => {
  behaviour = async (req, res, usage) =>
    usage.forwarded(await relay(req, res, usage, [START, DELTA, DELTA, ...END], { abortAfter: 2 }));
  expect(await send('first-byte')).toBe('aborted');
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  expect(d).toMatchObject({ nodeId: 'node-1', status: 200, aborted: true });
  // The model saw the prompt: it counts.
  expect(d?.prompt).toBeDefined();
  expect(d?.capture?.result()).toMatchObject({ usage: { inputTokens: 42, outputTokens: 1 }, endedCleanly: false });
});

test('the client hangs up before any answer, the handler settles later: one draft, recorded at settle', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let bodyRead!: () => void;
  const read = new Promise<void>((r) => (bodyRead = r));
  let sawClose!: () => void;
  const hungUp = new Promise<void>((r) => (sawClose = r));
  behaviour = async (req, res, usage) => {
    for await (const _c of req) {
      // the whole body arrives; the client hangs up while the handler waits for a node
    }
    usage.parsed({ ...BODY, stream: true });
    bodyRead();
    await closed(res);
    sawClose();
    await held;
    usage.forwarded({ nodeId: 'node-1', status: 499, failovers: 0, aborted: true, brokeMidStream: false });
  };
  expect(await send({ after: read })).toBe('aborted');
  await hungUp;
  // Closed but not settled: nothing yet.
  expect(drafts).toEqual([]);
  release();
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  // No node answered: no node, no capture; the node had the request, so the prompt counts.
  expect(d).toMatchObject({ nodeId: null, status: 499, aborted: true });
  expect(d?.capture).toBeUndefined();
  expect(d?.prompt).toBeDefined();
});

test('the client hangs up halfway through its body: the read throws, one draft, nothing counted as prompt', async () => {
  behaviour = async (req) => {
    for await (const _c of req) {
      // the read fails when the client goes
    }
  };
  await new Promise<void>((resolve) => {
    const req = request(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
    });
    req.on('error', () => resolve());
    req.write('{"model":"claude-sonnet-4-6","messa');
    setTimeout(() => req.destroy(), 30);
  });
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  expect(d).toMatchObject({ status: 499, aborted: true, nodeId: null, model: 'unknown' });
  expect(d?.prompt).toBeUndefined();
});

test('a refusal thrown by the handler: one draft once the error is written, with its status and no prompt', async () => {
  behaviour = async (req, _res, usage) => {
    let body = '';
    for await (const c of req) body += (c as Buffer).toString();
    usage.parsed({ ...(JSON.parse(body) as typeof BODY), stream: true });
    throw new AppError('rate_limited', 'Too many requests', { retryAfterSec: 1 });
  };
  const answer = await send();
  expect(answer).toMatchObject({ status: 429 });
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  expect(d).toMatchObject({ status: 429, nodeId: null, aborted: false, model: BODY.model });
  expect(d?.capture).toBeUndefined();
  expect(d?.prompt).toBeUndefined();
});

test('a node refusing on its own (its request-id is ours): one draft, the answer captured, the prompt not counted', async () => {
  behaviour = async (req, res, usage, requestId) => {
    for await (const _c of req) {
      // drain
    }
    usage.parsed({ ...BODY, stream: true });
    const head = { 'content-type': 'application/json', 'request-id': requestId };
    usage.capture.onHead(529, head);
    res.writeHead(529, head);
    const body = Buffer.from(
      JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'no account' } }),
    );
    res.end(body);
    usage.capture.onChunk(body);
    usage.forwarded({
      nodeId: 'node-1',
      status: 529,
      failovers: 0,
      ttfbMs: 1,
      aborted: false,
      brokeMidStream: false,
      upstreamRequestId: requestId,
    });
  };
  expect(await send()).toMatchObject({ status: 529 });
  const [d, ...more] = await draftsAfter();
  expect(more).toEqual([]);
  expect(d).toMatchObject({ status: 529, nodeId: 'node-1' });
  expect(d?.prompt).toBeUndefined();
  expect(d?.capture?.result().usage).toBeNull();
});

test('fifty requests of every kind at once: exactly one draft each', async () => {
  let n = 0;
  behaviour = async (req, res, usage) => {
    const kind = n++ % 3;
    if (kind === 0) usage.forwarded(await relay(req, res, usage, [START, DELTA, ...END]));
    else if (kind === 1)
      usage.forwarded(await relay(req, res, usage, [START, DELTA, DELTA, ...END], { abortAfter: 2 }));
    else throw new AppError('rate_limited', 'Too many requests');
  };
  const kinds = Array.from({ length: 50 }, (_, i) => (i % 3 === 1 ? send('first-byte') : send()));
  await Promise.all(kinds);
  // A draft is recorded once its handler settled and its response closed, which may follow the client's end.
  await waitFor('fifty requests drafted', () => new Set(drafts.map((d) => d.requestId)).size >= 50);
  expect(drafts).toHaveLength(50);
  expect(new Set(drafts.map((d) => d.requestId)).size).toBe(50);
});
