import {
  forwardableRequestHeaders as nodeRequestHeaders,
  forwardableResponseHeaders as clientResponseHeaders,
} from '@switchyard/shared';
import { attemptHeaders, isFailoverStatus, wirePath, withTraceResponse } from './header-policy.js';

describe('nodeRequestHeaders', () => {
  it('keeps what the API needs and drops credentials, cookies, hop-by-hop, host, content-length, expect and x-switchyard-*', () => {
    const out = nodeRequestHeaders({
      host: 'gateway.example',
      authorization: 'Bearer sy-FAKE',
      'x-api-key': 'sy-FAKE',
      cookie: 'a=b',
      'content-length': '12',
      expect: '100-continue',
      connection: 'keep-alive, X-Custom-Hop',
      'x-custom-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      te: 'trailers',
      'proxy-authorization': 'Basic x',
      'x-switchyard-signature': 'forged',
      'x-switchyard-future': 'forged',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'a,b',
      'user-agent': 'claude-cli/2.1.0',
      'x-stainless-os': 'Linux',
    });
    expect(out).toEqual({
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'a,b',
      'user-agent': 'claude-cli/2.1.0',
      'x-stainless-os': 'Linux',
    });
  });

  it('drops every header about the client network: x-forwarded-*, forwarded, via, x-real-ip and kin', () => {
    const out = nodeRequestHeaders({
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-host': 'internal.example',
      'x-forwarded-proto': 'http',
      'x-forwarded-port': '8080',
      'x-forwarded-server': 'lb-1',
      forwarded: 'for=203.0.113.7;proto=http',
      via: '1.1 corp-proxy',
      'x-real-ip': '203.0.113.7',
      'x-client-ip': '203.0.113.7',
      'x-cluster-client-ip': '203.0.113.7',
      'true-client-ip': '203.0.113.7',
      'cf-connecting-ip': '203.0.113.7',
      'fastly-client-ip': '203.0.113.7',
      'x-forwarded': 'for=203.0.113.7',
      'x-original-forwarded-for': '203.0.113.7',
      'client-ip': '203.0.113.7',
      'x-originating-ip': '203.0.113.7',
      'anthropic-version': '2023-06-01',
    });
    expect(out).toEqual({ 'anthropic-version': '2023-06-01' });
  });
});

describe('attemptHeaders', () => {
  const job = (method: string, length: number) => ({ requestId: 'req_1', keyId: 'key_1', method, body: { length } });

  it('adds the request and key ids and the body length', () => {
    expect(attemptHeaders({ a: '1' }, job('POST', 42))).toEqual({
      a: '1',
      'x-switchyard-request-id': 'req_1',
      'x-switchyard-key-id': 'key_1',
      'content-length': '42',
    });
  });

  it('gives an empty POST content-length 0 and a bodiless GET none', () => {
    expect(attemptHeaders({}, job('POST', 0))['content-length']).toBe('0');
    expect(attemptHeaders({}, job('GET', 0))['content-length']).toBeUndefined();
  });
});

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop and Connection-named fields, keeps case and duplicates', () => {
    const raw = [
      'Content-Type',
      'text/event-stream',
      'Connection',
      'keep-alive, X-Node-Hop',
      'X-Node-Hop',
      '1',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'request-id',
      'req_up',
    ];
    expect(clientResponseHeaders(raw, 'req_gw')).toEqual([
      'Content-Type',
      'text/event-stream',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'request-id',
      'req_up',
    ]);
  });

  it("adds the gateway's request id only when the node sent none", () => {
    expect(clientResponseHeaders(['content-type', 'application/json'], 'req_gw')).toEqual([
      'content-type',
      'application/json',
      'request-id',
      'req_gw',
    ]);
  });
});

describe('isFailoverStatus', () => {
  it.each([
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, false],
    [529, true],
    [200, false],
    [400, false],
    [401, false],
    [403, false],
    [413, false],
  ])('%i -> %s', (status, expected) => {
    expect(isFailoverStatus(status)).toBe(expected);
  });
});

describe('wirePath', () => {
  it.each([
    ['/v1/messages?beta=true', '/v1/messages?beta=true'],
    ['/v1/messages', '/v1/messages'],
    ['/v1/models?limit=1000&after=x', '/v1/models?limit=1000&after=x'],
    ['/v1/messages/../models', '/v1/models'],
    ['/v1/{x}?q=a b', '/v1/%7Bx%7D?q=a%20b'],
    ['//double', '//double'],
  ])('%s -> %s', (path, expected) => {
    expect(wirePath(path)).toBe(expected);
  });
});

describe('withTraceResponse', () => {
  it("adds the gateway's traceresponse in place of the node's, keeping every other line, repeated ones included", () => {
    const ours = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const raw = ['Set-Cookie', 'a=1', 'TraceResponse', 'node', 'set-cookie', 'b=2', 'request-id', 'req_1'];
    expect(withTraceResponse(raw, ours)).toEqual([
      'Set-Cookie',
      'a=1',
      'set-cookie',
      'b=2',
      'request-id',
      'req_1',
      'traceresponse',
      ours,
    ]);
    expect(raw).toHaveLength(8);
  });
});
