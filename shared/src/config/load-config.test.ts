import { z } from 'zod';
import { ConfigError, loadConfig, parseConfig } from './load-config.js';
import { flag, integer, port, secret, url, withHint } from './env-types.js';

const Schema = z.object({
  PORT: port(8080),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  ADMIN_TOKEN: secret(32),
  NODE_SHARED_SECRET: secret(32),
  MAX_BODY_BYTES: integer(1024, { min: 1 }),
  VERBOSE: flag(false),
});

describe('parseConfig', () => {
  it('returns typed values with defaults applied', () => {
    const cfg = parseConfig(Schema, {
      ADMIN_TOKEN: 'a'.repeat(32),
      NODE_SHARED_SECRET: 'b'.repeat(40),
      VERBOSE: 'yes',
    });
    expect(cfg).toEqual({
      PORT: 8080,
      REDIS_URL: 'redis://127.0.0.1:6379',
      ADMIN_TOKEN: 'a'.repeat(32),
      NODE_SHARED_SECRET: 'b'.repeat(40),
      MAX_BODY_BYTES: 1024,
      VERBOSE: true,
    });
  });

  it('lists every problem at once, naming each variable', () => {
    let caught: unknown;
    try {
      parseConfig(Schema, { PORT: 'eighty', REDIS_URL: 'http://x', ADMIN_TOKEN: 'short', MAX_BODY_BYTES: '0' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.map((p) => p.variable).sort();
    expect(problems).toEqual(['ADMIN_TOKEN', 'MAX_BODY_BYTES', 'NODE_SHARED_SECRET', 'PORT', 'REDIS_URL']);
    const message = (caught as ConfigError).message;
    expect(message).toContain('5 problems');
    expect(message).toMatch(/NODE_SHARED_SECRET: is required/);
    expect(message).toMatch(/ADMIN_TOKEN: must be at least 32 bytes/);
  });

  it('treats empty strings as unset, so a blank secret is still missing', () => {
    expect(() => parseConfig(Schema, { ADMIN_TOKEN: '', NODE_SHARED_SECRET: 'b'.repeat(32) })).toThrow(
      /ADMIN_TOKEN: is required/,
    );
  });

  it('never echoes a secret value in its message', () => {
    const tooShort = 'tiny-secret-value';
    expect(() => parseConfig(Schema, { ADMIN_TOKEN: tooShort, NODE_SHARED_SECRET: 'b'.repeat(32) })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(tooShort) as unknown }) as Error,
    );
  });
});

describe('loadConfig', () => {
  it('writes the problems to stderr and exits 1', () => {
    const written: string[] = [];
    const exit = jest.fn((code: number): never => {
      throw new Error(`exit ${code}`);
    });
    expect(() => loadConfig(Schema, {}, { exit, writeError: (t) => written.push(t) })).toThrow('exit 1');
    expect(exit).toHaveBeenCalledWith(1);
    expect(written.join('')).toMatch(/ADMIN_TOKEN: is required[\s\S]*NODE_SHARED_SECRET: is required/);
  });
});

describe('hints', () => {
  const Hinted = z.object({
    ADMIN_TOKEN: secret(32),
    PUBLIC_URL: withHint(
      url(['http:', 'https:']),
      'where clients reach it, e.g. http://10.0.0.5:8090',
      'a URL starting with http:// or https://',
    ),
    REDIS_URL: withHint(url(['redis:']).default('redis://127.0.0.1:6379'), 'e.g. redis://127.0.0.1:6379'),
    TOKEN: secret(32).optional(),
    PORT: port(8080),
  });
  const problems = (env: Record<string, string>) => {
    try {
      parseConfig(Hinted, env);
    } catch (err) {
      return Object.fromEntries((err as ConfigError).problems.map((p) => [p.variable, p.message]));
    }
    return {};
  };

  it('a missing variable says what it must be and how to make one', () => {
    expect(problems({})).toEqual({
      ADMIN_TOKEN: 'is required but not set (at least 32 bytes; generate one with `openssl rand -hex 32`)',
      PUBLIC_URL:
        'is required but not set (a URL starting with http:// or https://; where clients reach it, e.g. http://10.0.0.5:8090)',
    });
  });

  it('a wrong value keeps its problem and adds the fix, through default() and optional() wrappers', () => {
    expect(
      problems({
        ADMIN_TOKEN: 'x'.repeat(40),
        PUBLIC_URL: 'ftp://x',
        REDIS_URL: 'localhost',
        TOKEN: 'short',
        PORT: '99999',
      }),
    ).toEqual({
      PUBLIC_URL: 'must be a URL starting with http:// or https:// (where clients reach it, e.g. http://10.0.0.5:8090)',
      REDIS_URL: 'must be a URL starting with redis:// (e.g. redis://127.0.0.1:6379)',
      TOKEN: 'must be at least 32 bytes long (generate one with `openssl rand -hex 32`)',
      PORT: 'must be a port number from 0 to 65535',
    });
  });
});
