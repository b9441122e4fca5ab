import { NodeTokens, parseConfig, tracingConfigOf } from '@switchyard/shared';
import { NodeConfigSchema } from './config.js';

const TOKEN = NodeTokens.generate();
const base = {
  GATEWAY_URL: 'https://gateway.example.com',
  NODE_ID: 'node-1',
  NODE_TOKEN: TOKEN,
  ANTHROPIC_API_KEY: 'k',
};

describe('node-agent config', () => {
  it('applies the documented defaults: a loopback listener, the protocol ping timings', () => {
    expect(parseConfig(NodeConfigSchema, base)).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 8090,
      GATEWAY_ALLOW_HTTP: false,
      TUNNEL_PING_INTERVAL_MS: 5_000,
      TUNNEL_PING_TIMEOUT_MS: 10_000,
      ANTHROPIC_BASE_URL: 'https://api.anthropic.com',
      ANTHROPIC_OAUTH_TOKEN_URL: 'https://platform.claude.com/v1/oauth/token',
      DRAIN_TIMEOUT_MS: 120_000,
    });
  });

  it('times requests to Anthropic: 10 s to connect, 10 min to the response head (a non-streaming answer may take minutes)', () => {
    expect(parseConfig(NodeConfigSchema, base)).toMatchObject({
      UPSTREAM_CONNECT_TIMEOUT_MS: 10_000,
      UPSTREAM_HEADERS_TIMEOUT_MS: 600_000,
    });
    expect(
      parseConfig(NodeConfigSchema, {
        ...base,
        UPSTREAM_CONNECT_TIMEOUT_MS: '3000',
        UPSTREAM_HEADERS_TIMEOUT_MS: '900000',
      }),
    ).toMatchObject({
      UPSTREAM_CONNECT_TIMEOUT_MS: 3_000,
      UPSTREAM_HEADERS_TIMEOUT_MS: 900_000,
    });
  });

  it.each([
    ['UPSTREAM_CONNECT_TIMEOUT_MS', '0'],
    ['UPSTREAM_CONNECT_TIMEOUT_MS', '2.5'],
    ['UPSTREAM_CONNECT_TIMEOUT_MS', 'ten'],
    ['UPSTREAM_HEADERS_TIMEOUT_MS', '999'],
    // A Node timer past 2^31 - 1 ms fires at once: refused rather than silently cutting every request.
    ['UPSTREAM_HEADERS_TIMEOUT_MS', '2147483648'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => parseConfig(NodeConfigSchema, { ...base, [name]: value })).toThrow(new RegExp(name));
  });

  it('needs the gateway, the node id and its token, and names `switchyard nodes add` for them', () => {
    const problems = (() => {
      try {
        parseConfig(NodeConfigSchema, { ANTHROPIC_API_KEY: 'k' });
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(problems).toMatch(/3 problems/);
    expect(problems).toMatch(/GATEWAY_URL: is required/);
    expect(problems).toMatch(/NODE_ID: is required.*switchyard nodes add/);
    expect(problems).toMatch(/NODE_TOKEN: is required.*switchyard nodes add/);
  });

  it('refuses a token that is not a node token, without echoing it', () => {
    const cut = TOKEN.slice(0, -1);
    let message = '';
    try {
      parseConfig(NodeConfigSchema, { ...base, NODE_TOKEN: cut });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/NODE_TOKEN: is not a node token.*switchyard nodes add/);
    expect(message).not.toContain(cut);
    expect(() => parseConfig(NodeConfigSchema, { ...base, NODE_TOKEN: `sy-${TOKEN.slice(4)}` })).toThrow(/NODE_TOKEN/);
  });

  it.each([
    ['http://127.0.0.1:8080', true],
    ['http://localhost:8080', true],
    ['http://10.1.2.3', true],
    ['http://172.20.0.4:8080', true],
    ['http://192.168.1.10', true],
    ['http://100.101.102.103', true],
    ['http://[::1]:8080', true],
    ['http://[fd00::5]', true],
    ['http://gateway.example.com', false],
    ['http://8.8.8.8', false],
    ['http://172.32.0.1', false],
    ['http://gateway', false],
  ])('plain http to %s is allowed: %s', (url, allowed) => {
    const parse = () => parseConfig(NodeConfigSchema, { ...base, GATEWAY_URL: url });
    if (allowed) expect(parse().GATEWAY_URL).toBe(url);
    else expect(parse).toThrow(/GATEWAY_URL: plain http .* GATEWAY_ALLOW_HTTP=true/);
  });

  it('GATEWAY_ALLOW_HTTP=true opts in to plain http anywhere; other schemes never pass', () => {
    expect(
      parseConfig(NodeConfigSchema, { ...base, GATEWAY_URL: 'http://gateway', GATEWAY_ALLOW_HTTP: 'true' }).GATEWAY_URL,
    ).toBe('http://gateway');
    expect(() => parseConfig(NodeConfigSchema, { ...base, GATEWAY_URL: 'ws://gateway.example.com' })).toThrow(
      /GATEWAY_URL/,
    );
  });

  it('has no Redis, shared secret or public URL any more: setting them changes nothing', () => {
    const config = parseConfig(NodeConfigSchema, {
      ...base,
      REDIS_URL: 'redis://x',
      NODE_SHARED_SECRET: 's',
      NODE_PUBLIC_URL: 'http://x',
    }) as Record<string, unknown>;
    for (const gone of [
      'REDIS_URL',
      'UPSTASH_REDIS_REST_URL',
      'REDIS_PREFIX',
      'NODE_SHARED_SECRET',
      'NODE_PUBLIC_URL',
      'HEARTBEAT_INTERVAL_MS',
    ])
      expect(config[gone]).toBeUndefined();
  });

  it('refuses two kinds of account at once, naming the variable', () => {
    expect(() => parseConfig(NodeConfigSchema, { ...base, CLAUDE_REFRESH_TOKEN: 'r' })).toThrow(
      /ANTHROPIC_API_KEY: a node holds one account/,
    );
    const { ANTHROPIC_API_KEY: _unused, ...oauth } = base;
    expect(() =>
      parseConfig(NodeConfigSchema, { ...oauth, CLAUDE_REFRESH_TOKEN: 'r', CLAUDE_CREDENTIALS_FILE: '/x' }),
    ).toThrow(/CLAUDE_CREDENTIALS_FILE/);
  });

  it('refuses a bad egress address, a bad proxy scheme and a ping timeout shorter than the interval', () => {
    expect(() => parseConfig(NodeConfigSchema, { ...base, EGRESS_LOCAL_ADDRESS: 'not-an-ip' })).toThrow(
      /EGRESS_LOCAL_ADDRESS/,
    );
    expect(() => parseConfig(NodeConfigSchema, { ...base, EGRESS_PROXY_URL: 'ftp://proxy' })).toThrow(
      /EGRESS_PROXY_URL/,
    );
    expect(() =>
      parseConfig(NodeConfigSchema, { ...base, TUNNEL_PING_INTERVAL_MS: '2000', TUNNEL_PING_TIMEOUT_MS: '1000' }),
    ).toThrow(/TUNNEL_PING_TIMEOUT_MS/);
  });

  it('traces only with an OTLP endpoint, and refuses a bad sampler or endpoint naming the variable', () => {
    expect(tracingConfigOf(parseConfig(NodeConfigSchema, base))).toEqual({ enabled: false, collector: undefined });
    const on = parseConfig(NodeConfigSchema, {
      ...base,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(on).toMatchObject({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 0.25 });
    expect(tracingConfigOf(on)).toEqual({ enabled: true, collector: 'http://otel-collector:4318' });

    expect(() => parseConfig(NodeConfigSchema, { ...base, OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
      /OTEL_TRACES_SAMPLER: .*parentbased_always_on/,
    );
    expect(() =>
      parseConfig(NodeConfigSchema, { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => parseConfig(NodeConfigSchema, { ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' })).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/,
    );
  });
});
