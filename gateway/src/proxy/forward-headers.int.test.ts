import {
  answer,
  send,
  startStandInNode,
  startTestGateway,
  type StandInNode,
  type TestGateway,
} from './test-harness.js';

// Odd spacing, escapes, multi-byte characters: the node must get these exact bytes.
const ODD_BODY = Buffer.from(
  '{ "model" :  "claude-sonnet-4-6",\n\t"max_tokens":   5 ,"messages":[{"role":"user","content":"héllo ✓ 🚀 \\u00e9  "}]   }\n',
);

let node: StandInNode;
let gw: TestGateway;

beforeEach(async () => {
  gw = await startTestGateway({ candidates: () => [node.view] });
  node = await startStandInNode(gw, 'n1', answer(200, { 'content-type': 'application/json' }, '{"ok":true}'));
});
afterEach(async () => {
  await node.stop();
  await gw.stop();
});

function rawCount(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) n++;
  return n;
}

describe('what reaches a node', () => {
  it("drops the client's credentials, cookies, hop-by-hop and forged x-switchyard-* headers; keeps the rest; adds the request and key ids", async () => {
    const res = await send(gw.url, {
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer sy-FAKE-client-bearer',
        'x-api-key': 'sy-FAKE-client-key',
        cookie: 'session=abc; other=1',
        'x-switchyard-signature': 'f'.repeat(64),
        'x-switchyard-node': 'n1',
        'x-switchyard-key-id': 'forged-key',
        'x-switchyard-anything': 'forged',
        connection: 'keep-alive, x-private-hop',
        'x-private-hop': 'secret-ish',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        expect: '100-continue',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
        'x-claude-code-session-id': '6f1c1e0e-3d5b-4c55-9b1e-2d3f3c1a9a77',
        'user-agent': 'claude-cli/2.1.0 (external, cli)',
        'x-app': 'cli',
      },
      body: ODD_BODY,
    });
    expect(res.status).toBe(200);
    const seen = node.seen[0];
    const h = seen?.headers ?? {};
    for (const name of [
      'authorization',
      'x-api-key',
      'cookie',
      'x-private-hop',
      'proxy-authorization',
      'te',
      'expect',
      'x-switchyard-anything',
      'x-switchyard-signature',
      'x-switchyard-node',
    ]) {
      expect([name, h[name]]).toEqual([name, undefined]);
    }
    expect(rawCount(seen?.rawHeaders ?? [], 'x-switchyard-key-id')).toBe(1);
    expect(h['x-switchyard-key-id']).toBe('key-test');
    expect(h['x-switchyard-request-id']).toBe(gw.jobs[0]?.requestId);
    // One request per tunnel stream: the node's server closes its "connection" after answering.
    expect(h.connection).toBe('close');
    expect(h['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14');
    expect(h['x-claude-code-session-id']).toBe('6f1c1e0e-3d5b-4c55-9b1e-2d3f3c1a9a77');
    expect(h['user-agent']).toBe('claude-cli/2.1.0 (external, cli)');
    expect(h['x-app']).toBe('cli');
    expect(h['content-length']).toBe(String(ODD_BODY.length));
    expect(seen?.body.equals(ODD_BODY)).toBe(true);
    expect(seen?.path).toBe('/v1/messages?beta=true');
    // The client's request keeps its own headers for the rest of the gateway (log lines, metrics).
    expect(gw.headersAfter[0]?.authorization).toBe('Bearer sy-FAKE-client-bearer');
  });

  it('sends the path as the URL parser normalises it', async () => {
    const res = await send(gw.url, {
      path: '/v1/messages/{x}/../count_tokens?beta=true&q=a|b',
      headers: { 'content-type': 'application/json' },
      body: ODD_BODY,
    });
    expect(res.status).toBe(200);
    expect(node.seen[0]?.path).toBe('/v1/messages/count_tokens?beta=true&q=a|b');
  });

  it('sends a bodiless GET without a body or content-length', async () => {
    const res = await send(gw.url, {
      method: 'GET',
      path: '/v1/models?limit=1000',
      headers: { 'anthropic-version': '2023-06-01' },
    });
    expect(res.status).toBe(200);
    expect(node.seen[0]?.body.length).toBe(0);
    expect(node.seen[0]?.headers['content-length']).toBeUndefined();
    expect(node.seen[0]?.headers['transfer-encoding']).toBeUndefined();
  });
});
