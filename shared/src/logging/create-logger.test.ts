import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from './create-logger.js';
import { redactValue } from './redact.js';

// Sentinels are made at run time (a committed literal shaped like a real token would be a leak of its own).
const rnd = () => randomBytes(30).toString('base64url');
const sentinels = {
  oauthAccess: `sk-ant-oat01-${rnd()}`,
  oauthRefresh: `sk-ant-ort01-${rnd()}`,
  apiKey: `sk-ant-api03-${rnd()}`,
  gatewayKey: `sy-${rnd()}`,
  nodeToken: `syn-${rnd()}`,
  bearerOpaque: `opaque${rnd()}`,
  cookie: `session=${rnd()}`,
  sharedSecret: `shared-${rnd()}`,
  adminToken: `admin-${rnd()}`,
  password: `pw-${rnd()}`,
  verifier: `verifier-${rnd()}`,
};

function capture(format: 'json' | 'pretty'): { log: Logger; output: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const log = createLogger({ service: 'test', level: 'debug', format, stream });
  return { log, output: () => Buffer.concat(chunks).toString('utf8') };
}

function plantEverywhere(log: Logger): void {
  // 1. In the message text.
  log.info(`refreshing with ${sentinels.oauthRefresh} for key ${sentinels.gatewayKey}`);
  log.info(`node joined with ${sentinels.nodeToken}`);
  // 2. Header-named fields at the top level and in nested headers.
  log.info('request received', {
    authorization: `Bearer ${sentinels.bearerOpaque}`,
    'x-api-key': sentinels.apiKey,
    cookie: sentinels.cookie,
    headers: {
      Authorization: `Bearer ${sentinels.bearerOpaque}`,
      'X-Api-Key': sentinels.apiKey,
      Cookie: sentinels.cookie,
      'set-cookie': [sentinels.cookie],
    },
  });
  // 3. Token- and secret-named fields, in both spellings, and the opencode record shape.
  log.warn('credential stored', {
    accessToken: sentinels.oauthAccess,
    refresh_token: sentinels.oauthRefresh,
    credential: { type: 'oauth', access: sentinels.oauthAccess, refresh: sentinels.oauthRefresh, expires: 1 },
    nodeSharedSecret: sentinels.sharedSecret,
    adminToken: sentinels.adminToken,
    password: sentinels.password,
    code_verifier: sentinels.verifier,
  });
  // 4. Secret-shaped values under innocent names, inside arrays and deep nesting.
  log.debug('diagnostics', {
    note: `got ${sentinels.apiKey}`,
    list: [[{ deep: { deeper: sentinels.oauthAccess } }]],
    url: new URL(`https://x.test/?k=${sentinels.gatewayKey}`),
  });
  // 5. Error objects: message, stack, custom properties, nested causes.
  const err = new Error(`upstream rejected ${sentinels.oauthAccess}`) as Error & {
    config?: unknown;
    response?: unknown;
  };
  err.config = { headers: { authorization: `Bearer ${sentinels.bearerOpaque}` } };
  err.response = { body: `invalid key ${sentinels.apiKey}` };
  log.error('refresh failed', {
    err,
    cause: new Error('outer', { cause: new Error(`inner ${sentinels.oauthRefresh}`) }),
  });
  // 6. Child loggers carrying secrets in their bound fields.
  log
    .child({ requestId: 'req_1', apiKey: sentinels.apiKey, token: sentinels.adminToken })
    .info('child line', { secret: sentinels.sharedSecret });
  // 7. A circular structure must not crash logging.
  const circular: Record<string, unknown> = { refreshToken: sentinels.oauthRefresh };
  circular.self = circular;
  log.info('circular', { circular });
}

describe.each(['json', 'pretty'] as const)('logger redaction (%s)', (format) => {
  it('lets no planted secret reach the output through any log path', () => {
    const { log, output } = capture(format);
    plantEverywhere(log);
    const text = output();
    expect(text.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(7);
    for (const [name, value] of Object.entries(sentinels)) {
      expect({ name, leaked: text.includes(value) }).toEqual({ name, leaked: false });
    }
    // Non-secret data stays readable.
    expect(text).toContain('credential stored');
    expect(text).toContain('req_1');
  });
});

describe('logger output', () => {
  it('writes one JSON object per line in json format, with service, level and timestamp', () => {
    const { log, output } = capture('json');
    log.child({ requestId: 'req_abc' }).info('node selected', { nodeId: 'n1', inputTokens: 12 });
    const line = JSON.parse(output().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({
      service: 'test',
      level: 'info',
      message: 'node selected',
      requestId: 'req_abc',
      nodeId: 'n1',
      inputTokens: 12,
    });
    expect(typeof line.timestamp).toBe('string');
  });

  it('keeps token counts visible while masking token values', () => {
    expect(redactValue({ input_tokens: 5, outputTokens: 7, max_tokens: 100, token: 'abc' })).toEqual({
      input_tokens: 5,
      outputTokens: 7,
      max_tokens: 100,
      token: '[REDACTED]',
    });
  });

  it("keeps an error's code readable (ECONNREFUSED, an HTTP status) and masks one shaped like an OAuth code", () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    const status = Object.assign(new Error('Not Found'), { code: 404 });
    // An authorization code as Anthropic's OAuth flow returns it: base64url text, then `#` and the state.
    const oauth = Object.assign(new Error('exchange failed'), { code: `${rnd()}#${rnd()}` });
    const longNumber = Object.assign(new Error('odd'), { code: 4_111_111_111_111_111 });
    expect(redactValue({ refused, status, oauth, longNumber })).toMatchObject({
      refused: { code: 'ECONNREFUSED' },
      status: { code: 404 },
      oauth: { code: '[REDACTED]' },
      longNumber: { code: '[REDACTED]' },
    });
    // Outside an Error, a field named code is an authorization code's name: masked whatever it holds.
    expect(redactValue({ code: 'ABC' })).toEqual({ code: '[REDACTED]' });
  });

  it('respects the level', () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const log = createLogger({ service: 'test', level: 'warn', stream });
    log.info('hidden');
    log.warn('shown');
    const text = Buffer.concat(chunks).toString();
    expect(text).toContain('shown');
    expect(text).not.toContain('hidden');
  });
});
