import { hostname } from 'node:os';
import type { ConfigError } from '@switchyard/shared';
import { parseConfig, PING_INTERVAL_MS, PING_TIMEOUT_MS } from '@switchyard/shared';
import { GatewayConfigSchema } from './config.js';

const secrets = { ADMIN_TOKEN: 'a'.repeat(32) };

describe('gateway config', () => {
  it('applies the documented defaults', () => {
    expect(parseConfig(GatewayConfigSchema, secrets)).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      HOST: '0.0.0.0',
      PORT: 8080,
      MAX_BODY_BYTES: 32 * 1024 * 1024,
      LOG_LEVEL: 'info',
      USAGE_BUFFER_MAX: 10_000,
      USAGE_SPOOL_DIR: './data/usage-spool',
      TOKEN_ENCODING: 'o200k_base',
    });
  });

  it('drains without a notice by default, and refuses a notice longer than the drain it counts within', () => {
    expect(parseConfig(GatewayConfigSchema, secrets)).toMatchObject({ DRAIN_NOTICE_MS: 0, DRAIN_TIMEOUT_MS: 120_000 });
    expect(parseConfig(GatewayConfigSchema, { ...secrets, DRAIN_NOTICE_MS: '5000', DRAIN_TIMEOUT_MS: '5000' })).toMatchObject({ DRAIN_NOTICE_MS: 5000 });
    expect(() => parseConfig(GatewayConfigSchema, { ...secrets, DRAIN_NOTICE_MS: '5001', DRAIN_TIMEOUT_MS: '5000' })).toThrow(/DRAIN_NOTICE_MS: must not exceed DRAIN_TIMEOUT_MS/);
  });

  it('warns of accounting lag past 60 s by default, takes another whole number of seconds, refuses 0 and fractions', () => {
    expect(parseConfig(GatewayConfigSchema, secrets).USAGE_LAG_WARN_SECONDS).toBe(60);
    expect(parseConfig(GatewayConfigSchema, { ...secrets, USAGE_LAG_WARN_SECONDS: '300' }).USAGE_LAG_WARN_SECONDS).toBe(300);
    for (const bad of ['0', '-5', '1.5', 'soon']) {
      expect(() => parseConfig(GatewayConfigSchema, { ...secrets, USAGE_LAG_WARN_SECONDS: bad })).toThrow(/USAGE_LAG_WARN_SECONDS/);
    }
  });

  it('refuses a usage buffer below 1 and an encoding name that is not one', () => {
    try {
      parseConfig(GatewayConfigSchema, { ...secrets, USAGE_BUFFER_MAX: '0', TOKEN_ENCODING: 'o200k base' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['TOKEN_ENCODING', 'USAGE_BUFFER_MAX']);
    }
  });

  it('refuses to start without an admin token, or with one shorter than 32 bytes', () => {
    expect(() => parseConfig(GatewayConfigSchema, {})).toThrow(/ADMIN_TOKEN: is required/);
    expect(() => parseConfig(GatewayConfigSchema, { ...secrets, ADMIN_TOKEN: 'x'.repeat(31) })).toThrow(/ADMIN_TOKEN: must be at least 32 bytes/);
  });

  it('rejects a non-redis REDIS_URL and a bad port together', () => {
    try {
      parseConfig(GatewayConfigSchema, { ...secrets, REDIS_URL: 'http://localhost', PORT: '70000' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['PORT', 'REDIS_URL']);
    }
  });

  it('needs no node secret any more: nodes join with their own tokens', () => {
    expect(parseConfig(GatewayConfigSchema, secrets)).not.toHaveProperty('NODE_SHARED_SECRET');
  });

  it('names the replica after the host by default, takes no id that cannot travel in a header, and an optional direct URL', () => {
    const config = parseConfig(GatewayConfigSchema, secrets);
    expect(config.GATEWAY_ID).toBe(hostname());
    expect(config.GATEWAY_REPLICA_URL).toBeUndefined();
    expect(parseConfig(GatewayConfigSchema, { ...secrets, GATEWAY_ID: 'gw-2', GATEWAY_REPLICA_URL: 'https://gw-2.example.com' })).toMatchObject({
      GATEWAY_ID: 'gw-2',
      GATEWAY_REPLICA_URL: 'https://gw-2.example.com',
    });
    try {
      parseConfig(GatewayConfigSchema, { ...secrets, GATEWAY_ID: 'gw 2,gw-3', GATEWAY_REPLICA_URL: 'gw-2:8080' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['GATEWAY_ID', 'GATEWAY_REPLICA_URL']);
    }
  });

  it('pings tunnels on the protocol timing unless overridden', () => {
    expect(parseConfig(GatewayConfigSchema, secrets)).toMatchObject({ TUNNEL_PING_INTERVAL_MS: PING_INTERVAL_MS, TUNNEL_PING_TIMEOUT_MS: PING_TIMEOUT_MS });
    expect(parseConfig(GatewayConfigSchema, { ...secrets, TUNNEL_PING_INTERVAL_MS: '200', TUNNEL_PING_TIMEOUT_MS: '500' })).toMatchObject({
      TUNNEL_PING_INTERVAL_MS: 200,
      TUNNEL_PING_TIMEOUT_MS: 500,
    });
  });
});
