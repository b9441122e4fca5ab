import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, toAppError } from './app-error.js';
import { anthropicErrorTypeFor, newRequestId, sseErrorFrame } from './anthropic-error.js';
import { writeErrorResponse } from './write-error.js';

describe('AppError', () => {
  it('maps codes to status, Anthropic type and retryability', () => {
    const e = new AppError('rate_limited', 'slow down', { retryAfterSec: 3 });
    expect([e.status, e.anthropicType, e.retryable, e.retryAfterSec]).toEqual([429, 'rate_limit_error', true, 3]);
    expect(new AppError('body_too_large', 'x').anthropicType).toBe('request_too_large');
    expect(new AppError('overloaded', 'x').status).toBe(529);
  });

  it('wraps unknown errors as internal, keeping the cause', () => {
    const cause = new Error('boom');
    const e = toAppError(cause);
    expect([e.code, e.status, e.message, e.cause]).toEqual(['internal', 500, 'Internal server error', cause]);
  });

  it('names types for statuses as Anthropic does', () => {
    expect([400, 401, 403, 404, 413, 429, 500, 529, 418, 503].map(anthropicErrorTypeFor)).toEqual([
      'invalid_request_error',
      'authentication_error',
      'permission_error',
      'not_found_error',
      'request_too_large',
      'rate_limit_error',
      'api_error',
      'overloaded_error',
      'invalid_request_error',
      'api_error',
    ]);
  });

  it('formats a terminal SSE error frame a client SDK can parse', () => {
    const frame = sseErrorFrame('overloaded_error', 'Overloaded', 'req_1');
    expect(frame).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}\n\n',
    );
    expect(newRequestId()).toMatch(/^req_[A-Za-z0-9_-]{24}$/);
  });
});

describe('writeErrorResponse (over real HTTP)', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const err =
        req.url === '/limit'
          ? new AppError('rate_limited', 'Too many requests', { retryAfterSec: 2.2 })
          : new Error('secret internals');
      writeErrorResponse(res, err, 'req_test');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));

  it('sends the envelope with request-id and retry-after', async () => {
    const res = await fetch(`${base}/limit`);
    expect(res.status).toBe(429);
    expect(res.headers.get('request-id')).toBe('req_test');
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Too many requests' },
      request_id: 'req_test',
    });
  });

  it('hides the text of unknown errors behind a 500 api_error', async () => {
    const res = await fetch(`${base}/boom`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).not.toContain('secret internals');
    expect(JSON.parse(body)).toMatchObject({ error: { type: 'api_error' } });
  });
});
