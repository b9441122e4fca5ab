import { hostname } from 'node:os';
import type { ConfigError } from '@switchyard/shared';
import { parseConfig, PING_INTERVAL_MS, PING_TIMEOUT_MS } from '@switchyard/shared';
import { GatewayConfigSchema, gatewayConfigOf, loadGatewayConfig } from './config.js';

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
    expect(
      parseConfig(GatewayConfigSchema, { ...secrets, DRAIN_NOTICE_MS: '5000', DRAIN_TIMEOUT_MS: '5000' }),
    ).toMatchObject({ DRAIN_NOTICE_MS: 5000 });
    expect(() =>
      parseConfig(GatewayConfigSchema, { ...secrets, DRAIN_NOTICE_MS: '5001', DRAIN_TIMEOUT_MS: '5000' }),
    ).toThrow(/DRAIN_NOTICE_MS: must not exceed DRAIN_TIMEOUT_MS/);
  });

  it('warns of accounting lag past 60 s by default, takes another whole number of seconds, refuses 0 and fractions', () => {
    expect(parseConfig(GatewayConfigSchema, secrets).USAGE_LAG_WARN_SECONDS).toBe(60);
    expect(parseConfig(GatewayConfigSchema, { ...secrets, USAGE_LAG_WARN_SECONDS: '300' }).USAGE_LAG_WARN_SECONDS).toBe(
      300,
    );
    for (const bad of ['0', '-5', '1.5', 'soon']) {
      expect(() => parseConfig(GatewayConfigSchema, { ...secrets, USAGE_LAG_WARN_SECONDS: bad })).toThrow(
        /USAGE_LAG_WARN_SECONDS/,
      );
    }
  });

  it('refuses a usage buffer below 1 and an encoding name that is not one', () => {
    try {
      parseConfig(GatewayConfigSchema, { ...secrets, USAGE_BUFFER_MAX: '0', TOKEN_ENCODING: 'o200k base' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
        'TOKEN_ENCODING',
        'USAGE_BUFFER_MAX',
      ]);
    }
  });

  it('refuses to start without an admin token, or with one shorter than 32 bytes', () => {
    expect(() => parseConfig(GatewayConfigSchema, {})).toThrow(/ADMIN_TOKEN: is required/);
    expect(() => parseConfig(GatewayConfigSchema, { ...secrets, ADMIN_TOKEN: 'x'.repeat(31) })).toThrow(
      /ADMIN_TOKEN: must be at least 32 bytes/,
    );
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
    expect(
      parseConfig(GatewayConfigSchema, {
        ...secrets,
        GATEWAY_ID: 'gw-2',
        GATEWAY_REPLICA_URL: 'https://gw-2.example.com',
      }),
    ).toMatchObject({
      GATEWAY_ID: 'gw-2',
      GATEWAY_REPLICA_URL: 'https://gw-2.example.com',
    });
    try {
      parseConfig(GatewayConfigSchema, { ...secrets, GATEWAY_ID: 'gw 2,gw-3', GATEWAY_REPLICA_URL: 'gw-2:8080' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
        'GATEWAY_ID',
        'GATEWAY_REPLICA_URL',
      ]);
    }
  });

  describe('MODEL_ALIASES', () => {
    /** The problems of an environment that must not parse, as `variable: message` lines. */
    function problems(env: Record<string, string>): string[] {
      try {
        parseConfig(GatewayConfigSchema, { ...secrets, ...env });
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.variable}: ${p.message}`);
      }
      throw new Error('expected a ConfigError');
    }

    it('is an empty map when unset (or set to nothing), in the config the gateway runs with', () => {
      expect(loadGatewayConfig(secrets).MODEL_ALIASES).toEqual(new Map());
      expect(loadGatewayConfig({ ...secrets, MODEL_ALIASES: '' }).MODEL_ALIASES).toEqual(new Map());
      // The schema leaves it undefined: an environment default is a scalar (test/deploy reads them).
      expect(parseConfig(GatewayConfigSchema, secrets).MODEL_ALIASES).toBeUndefined();
      expect(gatewayConfigOf(parseConfig(GatewayConfigSchema, secrets)).MODEL_ALIASES.size).toBe(0);
    });

    it('parses a JSON object of names to model ids once, into a map', () => {
      const aliases = loadGatewayConfig({
        ...secrets,
        MODEL_ALIASES:
          ' {"gpt-4o": "claude-sonnet-4-5", "gpt-4o-mini":"claude-haiku-4-5", "o3:high":"claude-opus-4-1"} ',
      }).MODEL_ALIASES;
      expect([...aliases]).toEqual([
        ['gpt-4o', 'claude-sonnet-4-5'],
        ['gpt-4o-mini', 'claude-haiku-4-5'],
        ['o3:high', 'claude-opus-4-1'],
      ]);
      expect(loadGatewayConfig({ ...secrets, MODEL_ALIASES: '{}' }).MODEL_ALIASES.size).toBe(0);
      // A name that is also an Object.prototype key is just a name.
      expect(
        loadGatewayConfig({
          ...secrets,
          MODEL_ALIASES: '{"__proto__":"claude-sonnet-4-5","toString":"claude-haiku-4-5"}',
        }).MODEL_ALIASES,
      ).toEqual(
        new Map([
          ['__proto__', 'claude-sonnet-4-5'],
          ['toString', 'claude-haiku-4-5'],
        ]),
      );
    });

    it('refuses invalid JSON, naming the variable and what is wrong', () => {
      const [problem, ...more] = problems({ MODEL_ALIASES: '{gpt-4o: claude-sonnet-4-5}' });
      expect(more).toEqual([]);
      expect(problem).toMatch(
        /^MODEL_ALIASES: is not valid JSON \(.+\): it must be a JSON object of model names to Claude model ids \(e\.g\. \{"gpt-4o":"claude-sonnet-4-5"/,
      );
    });

    it.each([
      ['an array', '["gpt-4o","claude-sonnet-4-5"]'],
      ['a string', '"claude-sonnet-4-5"'],
      ['null', 'null'],
      ['a number', '4'],
    ])('refuses JSON that is %s rather than an object', (kind, value) => {
      expect(problems({ MODEL_ALIASES: value })).toEqual([
        expect.stringMatching(
          new RegExp(`^MODEL_ALIASES: must be a JSON object of model names to Claude model ids \\(got ${kind}\\)`),
        ),
      ]);
    });

    it('refuses every alias that does not map to a non-empty string, each by name, alongside other problems', () => {
      const found = problems({
        MODEL_ALIASES:
          '{"gpt-4o":"claude-sonnet-4-5","a":1,"b":"","c":null,"d":["claude-haiku-4-5"],"e":{"id":"x"},"f":"  "}',
        PORT: '70000',
      });
      expect(found.filter((p) => p.startsWith('PORT: '))).toHaveLength(1);
      expect(found.filter((p) => !p.startsWith('PORT: ')).map((p) => p.replace(/ \(e\.g\. .*$/, ''))).toEqual([
        'MODEL_ALIASES: alias "a" must map to a non-empty string (a Claude model id), got a number',
        'MODEL_ALIASES: alias "b" must map to a non-empty string (a Claude model id), got an empty string',
        'MODEL_ALIASES: alias "c" must map to a non-empty string (a Claude model id), got null',
        'MODEL_ALIASES: alias "d" must map to a non-empty string (a Claude model id), got an array',
        'MODEL_ALIASES: alias "e" must map to a non-empty string (a Claude model id), got an object',
        'MODEL_ALIASES: alias "f" must map to a non-empty string (a Claude model id), got a blank string',
      ]);
    });
  });

  describe('tracing (OTEL_*)', () => {
    it('is off without an OTLP endpoint, on with one, off again with OTEL_SDK_DISABLED=true', () => {
      expect(loadGatewayConfig(secrets).tracing).toEqual({ enabled: false, collector: undefined });
      expect(
        loadGatewayConfig({ ...secrets, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' }).tracing,
      ).toEqual({ enabled: true, collector: 'http://otel-collector:4318' });
      expect(
        loadGatewayConfig({
          ...secrets,
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
          OTEL_SDK_DISABLED: 'true',
        }).tracing.enabled,
      ).toBe(false);
    });

    it('refuses a sampler that is not one and an endpoint that is not a URL, naming each variable', () => {
      try {
        parseConfig(GatewayConfigSchema, {
          ...secrets,
          OTEL_TRACES_SAMPLER: 'sometimes',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url',
        });
        throw new Error('expected a ConfigError');
      } catch (err) {
        expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
          'OTEL_EXPORTER_OTLP_ENDPOINT',
          'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
          'OTEL_TRACES_SAMPLER',
        ]);
      }
      expect(() => parseConfig(GatewayConfigSchema, { ...secrets, OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
        /OTEL_TRACES_SAMPLER: .*parentbased_traceidratio/,
      );
    });
  });

  it('pings tunnels on the protocol timing unless overridden', () => {
    expect(parseConfig(GatewayConfigSchema, secrets)).toMatchObject({
      TUNNEL_PING_INTERVAL_MS: PING_INTERVAL_MS,
      TUNNEL_PING_TIMEOUT_MS: PING_TIMEOUT_MS,
    });
    expect(
      parseConfig(GatewayConfigSchema, { ...secrets, TUNNEL_PING_INTERVAL_MS: '200', TUNNEL_PING_TIMEOUT_MS: '500' }),
    ).toMatchObject({
      TUNNEL_PING_INTERVAL_MS: 200,
      TUNNEL_PING_TIMEOUT_MS: 500,
    });
  });
});
