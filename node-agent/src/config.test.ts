import { parseConfig } from '@switchyard/shared';
import { NodeConfigSchema } from './config.js';

const base = { NODE_PUBLIC_URL: 'http://10.0.0.5:8090', NODE_SHARED_SECRET: 's'.repeat(32) };

describe('node-agent config', () => {
  it('applies the documented defaults', () => {
    expect(parseConfig(NodeConfigSchema, { ...base, ANTHROPIC_API_KEY: 'k' })).toMatchObject({
      PORT: 8090,
      ANTHROPIC_BASE_URL: 'https://api.anthropic.com',
      ANTHROPIC_OAUTH_TOKEN_URL: 'https://platform.claude.com/v1/oauth/token',
      DRAIN_TIMEOUT_MS: 120_000,
    });
  });

  it('refuses two kinds of account at once, naming the variable', () => {
    expect(() => parseConfig(NodeConfigSchema, { ...base, CLAUDE_REFRESH_TOKEN: 'r', ANTHROPIC_API_KEY: 'k' })).toThrow(/ANTHROPIC_API_KEY: a node holds one account/);
    expect(() => parseConfig(NodeConfigSchema, { ...base, CLAUDE_REFRESH_TOKEN: 'r', CLAUDE_CREDENTIALS_FILE: '/x' })).toThrow(/CLAUDE_CREDENTIALS_FILE/);
  });

  it('refuses a short shared secret, a half-set Upstash pair and a bad egress address', () => {
    expect(() =>
      parseConfig(NodeConfigSchema, { ...base, NODE_SHARED_SECRET: 'short', UPSTASH_REDIS_REST_URL: 'https://u.example', EGRESS_LOCAL_ADDRESS: 'not-an-ip' }),
    ).toThrow(/3 problems/);
    expect(() => parseConfig(NodeConfigSchema, { ...base, EGRESS_PROXY_URL: 'ftp://proxy' })).toThrow(/EGRESS_PROXY_URL/);
  });
});
