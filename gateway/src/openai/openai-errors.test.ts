// The OpenAI error envelope (docs/OPENAI.md, "Errors"): the gateway's own errors, written over real HTTP and read by
// the `openai` SDK, and the route's Express error handler (http/errors.ts's errorHandler with this envelope).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { BadRequestError, OpenAI, RateLimitError } from 'openai';
import { AppError, ErrorCodes, writeErrorResponse, type ErrorCode, type Logger } from '@switchyard/shared';
import { recordingLog, type LogLine } from '@switchyard/testkit';
import { errorHandler } from '../http/errors.js';
import { localsOf } from '../http/request-context.js';
import { openAiErrorBody, openAiErrorEnvelope, openAiStreamErrorFrame } from './openai-errors.js';
import { ChatFieldError } from './types.js';

describe('openAiErrorEnvelope', () => {
  const expected: Record<ErrorCode, [string, string]> = {
    bad_request: ['invalid_request_error', 'bad_request'],
    invalid_json: ['invalid_request_error', 'invalid_json'],
    unauthenticated: ['authentication_error', 'invalid_api_key'],
    forbidden: ['permission_error', 'forbidden'],
    model_not_allowed: ['permission_error', 'model_not_allowed'],
    beta_not_allowed: ['permission_error', 'beta_not_allowed'],
    not_found: ['not_found_error', 'not_found'],
    body_too_large: ['invalid_request_error', 'body_too_large'],
    rate_limited: ['rate_limit_error', 'rate_limited'],
    budget_exhausted: ['rate_limit_error', 'budget_exhausted'],
    internal: ['server_error', 'internal'],
    upstream_unreachable: ['server_error', 'upstream_unreachable'],
    unavailable: ['server_error', 'unavailable'],
    busy: ['server_error', 'busy'],
    upstream_timeout: ['server_error', 'upstream_timeout'],
    overloaded: ['server_error', 'overloaded'],
  };

  it.each(Object.keys(ErrorCodes) as ErrorCode[])('maps the gateway code %s by its status', (code) => {
    const [type, openAiCode] = expected[code];
    expect(openAiErrorEnvelope(new AppError(code, 'why'))).toEqual({
      error: { message: 'why', type, param: null, code: openAiCode },
    });
  });

  it('names the refused field and its problem for a ChatFieldError', () => {
    const err = new ChatFieldError(
      'messages[2].content[0].type',
      'unsupported_parameter',
      'input_audio parts are not supported',
    );
    expect(openAiErrorEnvelope(err)).toEqual({
      error: {
        message: 'input_audio parts are not supported',
        type: 'invalid_request_error',
        param: 'messages[2].content[0].type',
        code: 'unsupported_parameter',
      },
    });
  });

  it('frames a stream error as a plain data event', () => {
    expect(
      openAiStreamErrorFrame({ error: { message: 'm', type: 'server_error', param: null, code: 'api_error' } }),
    ).toBe('data: {"error":{"message":"m","type":"server_error","param":null,"code":"api_error"}}\n\n');
  });
});

describe('writeErrorResponse with the OpenAI envelope (over real HTTP)', () => {
  let server: Server;
  let base: string;
  const errors: Record<string, unknown> = {
    '/limit': new AppError('rate_limited', 'Too many requests', { retryAfterSec: 2.2 }),
    '/field': new ChatFieldError('temperature', 'invalid_value', 'temperature must be at most 1'),
    '/boom': new Error('secret internals'),
  };
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/late') {
        res.writeHead(200).write('{"partial":');
        writeErrorResponse(res, new AppError('internal', 'x'), 'req_test', openAiErrorBody);
        return;
      }
      // The SDK asks for `<baseURL>/models`: the first path segment picks the error.
      writeErrorResponse(res, errors[`/${(req.url ?? '').split('/')[1]}`], 'req_test', openAiErrorBody);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));

  it('sends the envelope with request-id, retry-after (rounded up) and content-length', async () => {
    const res = await fetch(`${base}/limit`);
    expect(res.status).toBe(429);
    expect([res.headers.get('content-type'), res.headers.get('request-id'), res.headers.get('retry-after')]).toEqual([
      'application/json',
      'req_test',
      '3',
    ]);
    const body = await res.text();
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
    expect(JSON.parse(body)).toEqual({
      error: { message: 'Too many requests', type: 'rate_limit_error', param: null, code: 'rate_limited' },
    });
  });

  it('hides the text of unknown errors behind a 500 server_error', async () => {
    const res = await fetch(`${base}/boom`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).not.toContain('secret internals');
    expect(JSON.parse(body)).toEqual({
      error: { message: 'Internal server error', type: 'server_error', param: null, code: 'internal' },
    });
  });

  it('destroys a response whose headers already left', async () => {
    await expect(fetch(`${base}/late`).then(async (res) => res.text())).rejects.toThrow();
  });

  it('is what the openai SDK reads: its error class by status, with param, code and the retry-after it waits for', async () => {
    const client = new OpenAI({ baseURL: `${base}/field`, apiKey: 'x', maxRetries: 0 });
    await expect(client.models.list()).rejects.toMatchObject({
      constructor: BadRequestError,
      param: 'temperature',
      code: 'invalid_value',
      type: 'invalid_request_error',
    });
    const limited = new OpenAI({ baseURL: `${base}/limit`, apiKey: 'x', maxRetries: 0 });
    const err = await limited.models.list().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).headers.get('retry-after')).toBe('3');
  });
});

describe('errorHandler with the OpenAI envelope', () => {
  function appThrowing(err: unknown, log: Logger): express.Express {
    const app = express();
    app.use((_req, res, next) => {
      localsOf(res).requestId = 'req_route';
      next();
    });
    app.post('/v1/chat/completions', express.json({ limit: 10 }), () => {
      throw err;
    });
    app.use(errorHandler(log, openAiErrorBody));
    return app;
  }

  it('answers an AppError in the OpenAI envelope with the request id, logging nothing', async () => {
    const lines: LogLine[] = [];
    const res = await request(
      appThrowing(new AppError('budget_exhausted', 'Budget spent', { retryAfterSec: 60 }), recordingLog(lines)),
    )
      .post('/v1/chat/completions')
      .send({})
      .expect(429);
    expect(res.headers['request-id']).toBe('req_route');
    expect(res.headers['retry-after']).toBe('60');
    expect(res.body).toEqual({
      error: { message: 'Budget spent', type: 'rate_limit_error', param: null, code: 'budget_exhausted' },
    });
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('logs an internal error with its stack and answers 500 without its text', async () => {
    const lines: LogLine[] = [];
    const cause = new Error('db password is hunter2');
    const res = await request(appThrowing(cause, recordingLog(lines)))
      .post('/v1/chat/completions')
      .send({})
      .expect(500);
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(res.body).toMatchObject({ error: { type: 'server_error', code: 'internal' } });
    expect(lines.filter((l) => l.level === 'error').map((l) => [l.message, l.meta])).toEqual([
      ['request failed', { requestId: 'req_route', method: 'POST', path: '/v1/chat/completions', err: cause }],
    ]);
  });

  it("maps the body parser's too large and malformed bodies as errorHandler does", async () => {
    const app = appThrowing(new Error('unreached'), recordingLog([]));
    const big = await request(app)
      .post('/v1/chat/completions')
      .set('content-type', 'application/json')
      .send('{"a":"0123456789"}')
      .expect(413);
    expect(big.body).toEqual({
      error: {
        message: 'Request body is too large',
        type: 'invalid_request_error',
        param: null,
        code: 'body_too_large',
      },
    });
    const bad = await request(app)
      .post('/v1/chat/completions')
      .set('content-type', 'application/json')
      .send('{x')
      .expect(400);
    expect(bad.body).toEqual({
      error: { message: 'Malformed request', type: 'invalid_request_error', param: null, code: 'bad_request' },
    });
  });
});
