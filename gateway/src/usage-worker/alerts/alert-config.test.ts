// The worker's alert settings: URLs validated, a secret required with them and in the Standard Webhooks form.
import { randomBytes } from 'node:crypto';
import { parseConfig } from '@switchyard/shared';
import { WorkerConfigSchema } from '../config.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const parse = (env: Record<string, string>) => parseConfig(WorkerConfigSchema, env);

describe('worker alert config', () => {
  it('reads comma-separated URLs and the secret', () => {
    const c = parse({
      ALERT_WEBHOOK_URLS: 'https://a.example/hook, http://127.0.0.1:9000/x',
      ALERT_WEBHOOK_SECRET: SECRET,
    });
    expect(c.ALERT_WEBHOOK_URLS).toEqual(['https://a.example/hook', 'http://127.0.0.1:9000/x']);
    expect(c.ALERT_WEBHOOK_SECRET).toBe(SECRET);
  });

  it('has no webhooks by default', () => {
    expect(parse({}).ALERT_WEBHOOK_URLS).toBeUndefined();
  });

  it.each([
    [{ ALERT_WEBHOOK_URLS: 'https://a.example/hook' }, /ALERT_WEBHOOK_SECRET.*required/],
    [{ ALERT_WEBHOOK_URLS: 'ftp://a.example/hook', ALERT_WEBHOOK_SECRET: SECRET }, /ALERT_WEBHOOK_URLS.*http/],
    [{ ALERT_WEBHOOK_URLS: 'https://a.example/x,https://a.example/x', ALERT_WEBHOOK_SECRET: SECRET }, /twice/],
    [
      { ALERT_WEBHOOK_URLS: 'https://a.example/hook', ALERT_WEBHOOK_SECRET: randomBytes(32).toString('hex') },
      /ALERT_WEBHOOK_SECRET.*whsec_/,
    ],
    [
      { ALERT_WEBHOOK_URLS: 'https://a.example/hook', ALERT_WEBHOOK_SECRET: 'whsec_not base64!' },
      /ALERT_WEBHOOK_SECRET/,
    ],
    [
      {
        ALERT_WEBHOOK_URLS: 'https://a.example/hook',
        ALERT_WEBHOOK_SECRET: `whsec_${randomBytes(8).toString('base64')}`,
      },
      /24/,
    ],
  ])('refuses %j', (env, problem) => {
    expect(() => parse(env)).toThrow(problem);
  });

  it('never echoes the secret in its complaint', () => {
    const bad = `whsec_${randomBytes(8).toString('base64')}`;
    let message = '';
    try {
      parse({ ALERT_WEBHOOK_URLS: 'https://a.example/hook', ALERT_WEBHOOK_SECRET: bad });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(bad.slice(6));
  });
});
