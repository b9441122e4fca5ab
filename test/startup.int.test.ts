// Startup clarity: each process (gateway, node-agent, usage worker), spawned as operators run it. With a
// bad environment it exits 1 and stderr names the variable and the fix; with a good one its start line
// says what it is configured to do, and no planted secret appears anywhere in its output.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { deleteKeys, freePort, spawnService, testRedisUrl, uniquePrefix, type SpawnedService } from '@switchyard/shared/testing';

jest.setTimeout(60_000);

const GATEWAY = 'gateway/src/main.ts';
const NODE = 'node-agent/src/main.ts';
const WORKER = 'gateway/src/usage-worker/main.ts';
const services: SpawnedService[] = [];
const prefixes: string[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sy-startup-'));
});
afterAll(async () => {
  for (const svc of services) svc.kill();
  await Promise.all(services.map((svc) => svc.exited()));
  const redis = new Redis(testRedisUrl());
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a process that must refuse to start; resolves with what it wrote to stderr. */
async function refusal(entry: string, env: Record<string, string>): Promise<string> {
  const svc = spawnService(entry, env);
  services.push(svc);
  let stderr = '';
  svc.proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const { code } = await svc.exited();
  expect({ code, output: svc.output() }).toEqual({ code: 1, output: expect.any(String) as unknown });
  return stderr;
}

const secret = () => randomBytes(32).toString('hex');

describe('refusing to start', () => {
  it('gateway without any environment: both secrets named, with how to make one', async () => {
    const stderr = await refusal(GATEWAY, {});
    expect(stderr).toContain('ADMIN_TOKEN: is required but not set (at least 32 bytes; generate one with `openssl rand -hex 32`)');
    expect(stderr).toContain('NODE_SHARED_SECRET: is required but not set (at least 32 bytes; generate one with `openssl rand -hex 32`)');
  });

  it('gateway with a short secret and a bad Redis URL: each named, the secret never echoed', async () => {
    const short = randomBytes(8).toString('hex');
    const stderr = await refusal(GATEWAY, { ADMIN_TOKEN: short, NODE_SHARED_SECRET: secret(), REDIS_URL: 'http://127.0.0.1:6379' });
    expect(stderr).toContain('ADMIN_TOKEN: must be at least 32 bytes long (generate one with `openssl rand -hex 32`)');
    expect(stderr).toContain('REDIS_URL: must be a URL starting with redis:// or rediss:// (e.g. redis://127.0.0.1:6379');
    expect(stderr).not.toContain(short);
  });

  it('node-agent without any environment: its public URL and the shared secret', async () => {
    const stderr = await refusal(NODE, {});
    expect(stderr).toContain('NODE_PUBLIC_URL: is required but not set (a URL starting with http:// or https://; the URL the gateway reaches this node at');
    expect(stderr).toContain('NODE_SHARED_SECRET: is required but not set (at least 32 bytes; generate one with `openssl rand -hex 32`)');
  });

  it('node-agent with neither a reachable Redis nor an account: says both, and what to set', async () => {
    const port = await freePort();
    const stderr = await refusal(NODE, {
      NODE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_SHARED_SECRET: secret(),
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      CREDENTIALS_DIR: dir,
    });
    expect(stderr).toMatch(/^node-agent cannot start: the store is unreachable \(redis redis:\/\/127\.0\.0\.1:\d+\)/m);
    expect(stderr).toContain('no account is set in the environment (ANTHROPIC_API_KEY, CLAUDE_REFRESH_TOKEN or CLAUDE_CREDENTIALS_FILE)');
    expect(stderr).toContain('Fix: start Redis there, or set REDIS_URL');
  });

  it('node-agent with Redis but no account: names the variables that give it one', async () => {
    const prefix = uniquePrefix('startup');
    prefixes.push(prefix);
    const port = await freePort();
    const stderr = await refusal(NODE, {
      NODE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_SHARED_SECRET: secret(),
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: prefix,
      CREDENTIALS_DIR: dir,
    });
    expect(stderr).toMatch(/node-agent cannot start: Node \S+ has no account\. Fix: set ANTHROPIC_API_KEY, or CLAUDE_REFRESH_TOKEN, or CLAUDE_CREDENTIALS_FILE/);
  });

  it('worker with a bad Redis URL and a bad metrics port', async () => {
    const stderr = await refusal(WORKER, { REDIS_URL: 'localhost:6379', METRICS_PORT: 'ninety' });
    expect(stderr).toContain('REDIS_URL: must be a URL starting with redis:// or rediss:// (e.g. redis://127.0.0.1:6379');
    expect(stderr).toContain('METRICS_PORT: must be a port number from 0 to 65535');
  });
});

describe('starting', () => {
  /** Spawns, waits for the start line, and returns it parsed (the output is JSON lines). */
  async function startLine(entry: string, env: Record<string, string>, message: string): Promise<{ line: Record<string, unknown>; output: () => string }> {
    const svc = spawnService(entry, { LOG_FORMAT: 'json', ...env });
    services.push(svc);
    await svc.waitForOutput(new RegExp(`"message":"${message}"`), 30_000);
    const raw = svc
      .output()
      .split('\n')
      .find((l) => l.includes(`"message":"${message}"`));
    return { line: JSON.parse(raw ?? '{}') as Record<string, unknown>, output: () => svc.output() };
  }

  it('each process says what it will do, and never a secret', async () => {
    const prefix = uniquePrefix('startup');
    prefixes.push(prefix);
    const redisPassword = randomBytes(12).toString('hex');
    const url = new URL(testRedisUrl());
    // A password Redis does not ask for is ignored with a warning; it must still never be logged.
    const redisUrl = `redis://default:${redisPassword}@${url.host}`;
    const planted = { ADMIN_TOKEN: secret(), NODE_SHARED_SECRET: secret(), METRICS_TOKEN: secret(), ANTHROPIC_API_KEY: `sk-ant-api03-${randomBytes(24).toString('hex')}` };
    const [gwPort, nodePort, metricsPort] = [await freePort(), await freePort(), await freePort()];

    const gateway = await startLine(
      GATEWAY,
      { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, HOST: '127.0.0.1', PORT: String(gwPort), ADMIN_TOKEN: planted.ADMIN_TOKEN, NODE_SHARED_SECRET: planted.NODE_SHARED_SECRET, USAGE_SPOOL_DIR: join(dir, 'spool') },
      'gateway started',
    );
    expect(gateway.line).toMatchObject({
      listen: `127.0.0.1:${gwPort}`,
      redis: `redis://${url.host}`,
      prefix,
      metrics: `http://127.0.0.1:${gwPort}/metrics (token: ADMIN_TOKEN)`,
    });

    const node = await startLine(
      NODE,
      {
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        NODE_ID: 'startup-node',
        NODE_PUBLIC_URL: `http://127.0.0.1:${nodePort}`,
        HOST: '127.0.0.1',
        PORT: String(nodePort),
        NODE_SHARED_SECRET: planted.NODE_SHARED_SECRET,
        ANTHROPIC_API_KEY: planted.ANTHROPIC_API_KEY,
        METRICS_TOKEN: planted.METRICS_TOKEN,
        CREDENTIALS_DIR: dir,
      },
      'node-agent started',
    );
    expect(node.line).toMatchObject({
      nodeId: 'startup-node',
      listen: `127.0.0.1:${nodePort}`,
      account: 'api_key',
      store: `redis redis://${url.host}`,
      prefix,
      egress: 'direct from the host',
      metrics: `http://127.0.0.1:${nodePort}/metrics (token: METRICS_TOKEN)`,
    });

    const worker = await startLine(WORKER, { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), METRICS_TOKEN: planted.METRICS_TOKEN }, 'worker ready');
    expect(worker.line).toMatchObject({ redis: `redis://${url.host}`, metrics: `http://127.0.0.1:${metricsPort}/metrics (token: METRICS_TOKEN)` });

    for (const output of [gateway.output(), node.output(), worker.output()]) {
      for (const value of [...Object.values(planted), redisPassword]) expect(output).not.toContain(value);
    }
  });
});
