// Startup clarity: each process (gateway, node-agent, usage worker), spawned as operators run it. With a
// bad environment it exits 1 and stderr names the variable and the fix; with a good one its start line
// says what it is configured to do, and no planted secret appears anywhere in its output.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  deleteKeys,
  freePort,
  spawnService,
  testRedisUrl,
  uniquePrefix,
  type SpawnedService,
} from '@switchyard/testkit';

jest.setTimeout(60_000);

const GATEWAY = 'gateway/src/main.ts';
const NODE = 'node-agent/src/main.ts';
const WORKER = 'gateway/src/usage-worker/main.ts';
const services: SpawnedService[] = [];
const prefixes: string[] = [];
let dir: string;
const secret = () => randomBytes(32).toString('hex');

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

/** A gateway process on Redis under a fresh prefix with `nodeId` enrolled: its URL and the node's token. */
async function enrolledGateway(nodeId: string): Promise<{ gatewayUrl: string; token: string }> {
  const prefix = uniquePrefix('startup');
  prefixes.push(prefix);
  const port = await freePort();
  const adminToken = secret();
  const svc = spawnService(GATEWAY, {
    REDIS_URL: testRedisUrl(),
    REDIS_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: String(port),
    ADMIN_TOKEN: adminToken,
    USAGE_SPOOL_DIR: join(dir, `spool-${nodeId}`),
  });
  services.push(svc);
  await svc.waitForOutput(/gateway started/);
  const made = await fetch(`http://127.0.0.1:${port}/admin/nodes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: nodeId }),
  });
  if (made.status !== 201) throw new Error(`enrolment failed: ${made.status}`);
  return { gatewayUrl: `http://127.0.0.1:${port}`, token: ((await made.json()) as { token: string }).token };
}

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

describe('refusing to start', () => {
  it('gateway without any environment: the admin token named, with how to make one', async () => {
    const stderr = await refusal(GATEWAY, {});
    expect(stderr).toContain(
      'ADMIN_TOKEN: is required but not set (at least 32 bytes; generate one with `openssl rand -hex 32`)',
    );
    expect(stderr).not.toContain('NODE_SHARED_SECRET');
  });

  it('gateway with a short secret and a bad Redis URL: each named, the secret never echoed', async () => {
    const short = randomBytes(8).toString('hex');
    const stderr = await refusal(GATEWAY, { ADMIN_TOKEN: short, REDIS_URL: 'http://127.0.0.1:6379' });
    expect(stderr).toContain('ADMIN_TOKEN: must be at least 32 bytes long (generate one with `openssl rand -hex 32`)');
    expect(stderr).toContain(
      'REDIS_URL: must be a URL starting with redis:// or rediss:// (e.g. redis://127.0.0.1:6379',
    );
    expect(stderr).not.toContain(short);
  });

  it('node-agent without any environment: the three lines `switchyard nodes add` prints', async () => {
    const stderr = await refusal(NODE, {});
    expect(stderr).toContain('GATEWAY_URL: is required but not set');
    expect(stderr).toContain('NODE_ID: is required but not set');
    expect(stderr).toMatch(/NODE_TOKEN: is required but not set \(.*`switchyard nodes add <id>`/);
    expect(stderr).not.toMatch(/REDIS|SHARED_SECRET|PUBLIC_URL/);
  });

  it('node-agent with a token that is not one, and a plain-http gateway on a public address: each named, the token never echoed', async () => {
    const typo = `syn-${randomBytes(20).toString('hex')}`;
    const stderr = await refusal(NODE, {
      GATEWAY_URL: 'http://gateway.example.com',
      NODE_ID: 'node-x',
      NODE_TOKEN: typo,
    });
    expect(stderr).toContain('NODE_TOKEN:');
    expect(stderr).toContain('GATEWAY_URL:');
    expect(stderr).toContain('GATEWAY_ALLOW_HTTP');
    expect(stderr).not.toContain(typo);
  });

  it('node-agent enrolled, with the gateway reachable, but no account: names the variables that give it one', async () => {
    const { gatewayUrl, token } = await enrolledGateway('startup-no-account');
    const stderr = await refusal(NODE, {
      GATEWAY_URL: gatewayUrl,
      NODE_ID: 'startup-no-account',
      NODE_TOKEN: token,
      PORT: String(await freePort()),
      CREDENTIALS_DIR: dir,
    });
    expect(stderr).toMatch(
      /node-agent cannot start: Node startup-no-account has no account\. Fix: set ANTHROPIC_API_KEY, or CLAUDE_REFRESH_TOKEN, or CLAUDE_CREDENTIALS_FILE/,
    );
    expect(stderr).not.toContain(token);
  });

  it('worker with a bad Redis URL and a bad metrics port', async () => {
    const stderr = await refusal(WORKER, { REDIS_URL: 'localhost:6379', METRICS_PORT: 'ninety' });
    expect(stderr).toContain(
      'REDIS_URL: must be a URL starting with redis:// or rediss:// (e.g. redis://127.0.0.1:6379',
    );
    expect(stderr).toContain('METRICS_PORT: must be a port number from 0 to 65535');
  });
});

describe('starting', () => {
  /** Spawns, waits for the start line, and returns it parsed (the output is JSON lines). */
  async function startLine(
    entry: string,
    env: Record<string, string>,
    message: string,
  ): Promise<{ line: Record<string, unknown>; output: () => string }> {
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
    const planted = {
      ADMIN_TOKEN: secret(),
      METRICS_TOKEN: secret(),
      ANTHROPIC_API_KEY: `sk-ant-api03-${randomBytes(24).toString('hex')}`,
    };
    const [gwPort, nodePort, metricsPort] = [await freePort(), await freePort(), await freePort()];

    const gateway = await startLine(
      GATEWAY,
      {
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        HOST: '127.0.0.1',
        PORT: String(gwPort),
        GATEWAY_ID: 'startup-gw',
        ADMIN_TOKEN: planted.ADMIN_TOKEN,
        METRICS_TOKEN: planted.METRICS_TOKEN,
        USAGE_SPOOL_DIR: join(dir, 'spool'),
      },
      'gateway started',
    );
    expect(gateway.line).toMatchObject({
      listen: `127.0.0.1:${gwPort}`,
      redis: `redis://${url.host}`,
      prefix,
      replica: 'startup-gw',
      metrics: `http://127.0.0.1:${gwPort}/metrics (token: METRICS_TOKEN)`,
    });

    const made = await fetch(`http://127.0.0.1:${gwPort}/admin/nodes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${planted.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'startup-node' }),
    });
    expect(made.status).toBe(201);
    const { token: nodeToken } = (await made.json()) as { token: string };
    const node = await startLine(
      NODE,
      {
        GATEWAY_URL: `http://127.0.0.1:${gwPort}`,
        NODE_ID: 'startup-node',
        NODE_TOKEN: nodeToken,
        PORT: String(nodePort),
        ANTHROPIC_API_KEY: planted.ANTHROPIC_API_KEY,
        METRICS_TOKEN: planted.METRICS_TOKEN,
        CREDENTIALS_DIR: dir,
      },
      'node-agent started',
    );
    expect(node.line).toMatchObject({
      nodeId: 'startup-node',
      gateway: `http://127.0.0.1:${gwPort}/`,
      listen: `127.0.0.1:${nodePort}`,
      account: 'api_key',
      egress: 'direct from the host',
      metrics: `http://127.0.0.1:${nodePort}/metrics (token: METRICS_TOKEN)`,
    });
    expect(node.output()).not.toContain(nodeToken);

    const worker = await startLine(
      WORKER,
      {
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        HOST: '127.0.0.1',
        METRICS_PORT: String(metricsPort),
        METRICS_TOKEN: planted.METRICS_TOKEN,
      },
      'worker ready',
    );
    expect(worker.line).toMatchObject({
      redis: `redis://${url.host}`,
      metrics: `http://127.0.0.1:${metricsPort}/metrics (token: METRICS_TOKEN)`,
    });

    for (const output of [gateway.output(), node.output(), worker.output()]) {
      for (const value of [...Object.values(planted), redisPassword]) expect(output).not.toContain(value);
    }
  });
});
