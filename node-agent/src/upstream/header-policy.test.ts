import {
  forwardableRequestHeaders as upstreamRequestHeaders,
  forwardableResponseHeaders as downstreamResponseHeaders,
} from '@switchyard/shared';
import { mergeBetas, OAUTH_BETA, upstreamClientHeaders, withCredential } from './header-policy.js';
import { peekModel } from './peek-model.js';

describe('mergeBetas', () => {
  it.each([
    [undefined, OAUTH_BETA],
    ['', OAUTH_BETA],
    ['a', `a,${OAUTH_BETA}`],
    [` a , b,,a `, `a,b,${OAUTH_BETA}`],
    [`b,${OAUTH_BETA},a`, `b,${OAUTH_BETA},a`],
    [['a, b', `${OAUTH_BETA} ,a`, 'c'], `a,b,${OAUTH_BETA},c`],
  ])('%j → %s', (client, merged) => {
    expect(mergeBetas(client, OAUTH_BETA)).toBe(merged);
  });
});

describe('upstream request headers', () => {
  const client = {
    host: 'node-1:8090',
    connection: 'keep-alive, X-Private',
    'x-private': '1',
    'keep-alive': 'timeout=5',
    'proxy-authorization': 'Basic eA==',
    te: 'trailers',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    expect: '100-continue',
    'content-length': '99',
    authorization: 'Bearer client',
    'x-api-key': 'client-key',
    cookie: 'a=b',
    'x-switchyard-signature': 'sig',
    'x-switchyard-future-thing': 'x',
    'user-agent': 'claude-cli/2.1.330 (external, cli)',
    'anthropic-version': '2023-06-01',
    'anthropic-beta': 'claude-code-20250219',
    'x-claude-code-session-id': 's-1',
    'accept-encoding': 'gzip, br',
  };

  it('keeps only end-to-end, non-credential, non-gateway headers', () => {
    expect(upstreamRequestHeaders(client)).toEqual({
      'user-agent': 'claude-cli/2.1.330 (external, cli)',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219',
      'x-claude-code-session-id': 's-1',
      'accept-encoding': 'gzip, br',
    });
  });

  it('adds the OAuth credential and beta, or the API key untouched, and the body length', () => {
    const base = upstreamRequestHeaders(client);
    expect(withCredential(base, { Authorization: 'Bearer acct' }, true, 'POST', 12)).toMatchObject({
      authorization: 'Bearer acct',
      'anthropic-beta': `claude-code-20250219,${OAUTH_BETA}`,
      'content-length': 12,
    });
    const keyed = withCredential(base, { 'x-api-key': 'acct-key' }, false, 'POST', 0);
    expect(keyed).toMatchObject({
      'x-api-key': 'acct-key',
      'anthropic-beta': 'claude-code-20250219',
      'content-length': 0,
    });
    expect(keyed.authorization).toBeUndefined();
    expect(withCredential(base, { 'x-api-key': 'k' }, false, 'GET', 0)['content-length']).toBeUndefined();
    expect(base.authorization).toBeUndefined(); // the base is reused by a replay
  });

  it("drops the W3C trace context (the gateway's tunnel hop or the client's): Anthropic never sees our trace ids", () => {
    const traced = {
      ...client,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=1',
    };
    expect(upstreamClientHeaders(traced)).toEqual(upstreamRequestHeaders(client));
    expect(upstreamClientHeaders(client)).toEqual(upstreamRequestHeaders(client));
  });
});

describe('downstream response headers', () => {
  it('drops hop-by-hop fields (and those Connection names), keeps the rest as received', () => {
    const raw = [
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      '1',
      'Transfer-Encoding',
      'chunked',
      'Keep-Alive',
      'timeout=5',
      'Set-Cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'request-id',
      'req_up',
      'retry-after',
      '7',
    ];
    expect(downstreamResponseHeaders(raw, 'req_ours')).toEqual([
      'Set-Cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'request-id',
      'req_up',
      'retry-after',
      '7',
    ]);
  });

  it('adds our request id only when the upstream sent none', () => {
    expect(downstreamResponseHeaders(['content-type', 'application/json'], 'req_ours')).toEqual([
      'content-type',
      'application/json',
      'request-id',
      'req_ours',
    ]);
  });
});

describe('peekModel', () => {
  it('finds the model near the start, and gives up rather than guess', () => {
    expect(peekModel(Buffer.from('{"model" : "claude-opus-4-7","messages":[]}'))).toBe('claude-opus-4-7');
    expect(
      peekModel(Buffer.from('{"messages":[{"role":"user","content":"say \\"model\\":\\"x\\""}],"max_tokens":1}')),
    ).toBeUndefined();
    expect(peekModel(Buffer.from(`{"messages":"${'a'.repeat(2000)}","model":"claude-opus-4-7"}`))).toBeUndefined();
    expect(peekModel(Buffer.alloc(0))).toBeUndefined();
  });
});
