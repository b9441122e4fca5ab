// `npm run demo`, exactly as a newcomer runs it: it prints a URL and a key that work with the SDK
// (plain and streamed, counted by the usage worker), and Ctrl-C stops every process it started.
// Without any Redis it says, in one line, what to install.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Anthropic } from '@anthropic-ai/sdk';
import { Redis } from 'ioredis';
import {
  baseChildEnv,
  deleteKeys,
  freePort,
  processAlive,
  scanKeys,
  testRedisUrl,
  uniquePrefix,
  waitFor,
} from '@switchyard/testkit';

const ROOT = process.cwd();
const READY = 'Switchyard demo is ready.';

interface Demo {
  proc: ChildProcess;
  output(): string;
  stderr(): string;
  waitFor(text: string, timeoutMs: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runDemo(args: string[], env: Record<string, string>): Demo {
  const proc = spawn('npm', ['run', 'demo', '--', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  proc.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    proc,
    output: () => out,
    stderr: () => err,
    exited,
    async waitFor(text, timeoutMs) {
      await waitFor(`"${text}" from npm run demo`, () => out.includes(text), {
        timeoutMs,
        intervalMs: 100,
        stopIf: () => (gone && !out.includes(text) ? 'npm run demo exited' : undefined),
        detail: () => `${out}\n${err}`,
      });
    },
  };
}

function field(output: string, label: string): string {
  const value = new RegExp(`^ {2}${label} +(\\S+)`, 'm').exec(output)?.[1];
  if (value === undefined) throw new Error(`no "${label}" line in:\n${output}`);
  return value;
}

/** Where `tool` is on this PATH. */
function onPath(tool: string): string {
  const found = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, tool))
    .find((file) => existsSync(file));
  if (found === undefined) throw new Error(`no ${tool} on PATH`);
  return found;
}

describe('npm run demo', () => {
  const prefix = uniquePrefix('demo');
  const logDir = mkdtempSync(join(tmpdir(), 'sy-demo-test-'));
  const redis = new Redis(testRedisUrl(), { lazyConnect: true });
  let pids: Record<string, number> = {};

  beforeAll(() => redis.connect());
  afterAll(async () => {
    for (const pid of Object.values(pids)) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    await deleteKeys(redis, prefix);
    redis.disconnect();
    rmSync(logDir, { recursive: true, force: true });
  });

  test('starts the stack, serves the SDK through the printed URL and key, and stops everything on SIGINT', async () => {
    const port = await freePort();
    const demo = runDemo(['--port', String(port), '--prefix', prefix, '--log-dir', logDir], {
      ...baseChildEnv(),
      REDIS_URL: testRedisUrl(),
    });
    try {
      await demo.waitFor(READY, 150_000);
      const out = demo.output();
      const gatewayUrl = field(out, 'gateway');
      const userKey = field(out, 'user key');
      const adminToken = field(out, 'admin token');
      expect(gatewayUrl).toBe(`http://127.0.0.1:${port}`);
      expect(out).toContain(`ANTHROPIC_BASE_URL=${gatewayUrl} ANTHROPIC_AUTH_TOKEN=${userKey} claude`);
      expect(out).toContain(`curl -s ${gatewayUrl}/v1/messages -H 'x-api-key: ${userKey}'`);
      pids = JSON.parse(readFileSync(join(logDir, 'pids.json'), 'utf8')) as Record<string, number>;
      expect(Object.keys(pids).sort()).toEqual([
        'demo',
        'gateway',
        'node demo-a',
        'node demo-b',
        'reaper',
        'usage-worker',
      ]);

      // Both accounts serve: the gateway lists both nodes, each logged in through a refresh.
      const adminGet = async (path: string) => {
        const res = await fetch(`${gatewayUrl}/admin${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
        expect(res.status).toBe(200);
        return res.json() as Promise<Record<string, unknown>>;
      };
      const { nodes } = (await adminGet('/nodes')) as {
        nodes: { nodeId: string; state: string; accountKind: string }[];
      };
      expect(nodes.map((n) => [n.nodeId, n.state, n.accountKind]).sort()).toEqual([
        ['demo-a', 'available', 'oauth'],
        ['demo-b', 'available', 'oauth'],
      ]);

      // The SDK, as the printed snippet sets it up: x-api-key for the plain call, a Bearer token (Claude Code's way) for the stream.
      const plain = await new Anthropic({ baseURL: gatewayUrl, apiKey: userKey, maxRetries: 0 }).messages.create({
        model: 'claude-sonnet-4-6',
        max_tokens: 256,
        messages: [{ role: 'user', content: 'Hello, Claude' }],
      });
      const plainText = plain.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      expect(plainText).toContain('fake Anthropic upstream');
      const deltas: string[] = [];
      const stream = new Anthropic({
        baseURL: gatewayUrl,
        apiKey: null,
        authToken: userKey,
        maxRetries: 0,
      }).messages.stream({
        model: 'claude-sonnet-4-6',
        max_tokens: 256,
        messages: [{ role: 'user', content: 'Hello again' }],
      });
      stream.on('text', (text) => deltas.push(text));
      const streamed = await stream.finalMessage();
      expect(deltas.length).toBeGreaterThan(1);
      expect(deltas.join('')).toBe(plainText);
      expect(streamed.stop_reason).toBe('end_turn');

      // The usage worker counts both requests, with the output tokens the answers reported.
      const wanted = plain.usage.output_tokens + streamed.usage.output_tokens;
      type Totals = { requests: number; outputTokens: number };
      const totals = await waitFor(
        'both requests counted',
        async () => {
          const t = ((await adminGet('/usage')) as { totals: Totals }).totals;
          return t.requests >= 2 && t;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(totals).toMatchObject({ requests: 2, outputTokens: wanted });
      expect((await scanKeys(redis, prefix)).length).toBeGreaterThan(0);

      // Ctrl-C: the demo stops every process it started, clears its keys and exits 0 (and so does npm).
      const started = Object.entries(pids).filter(([name]) => name !== 'demo');
      expect(started.every(([, pid]) => processAlive(pid))).toBe(true);
      process.kill(pids.demo!, 'SIGINT');
      expect(await demo.exited).toEqual({ code: 0, signal: null });
      expect(demo.output()).toContain('Switchyard demo stopped. Logs:');
      expect(Object.values(pids).filter((pid) => processAlive(pid))).toEqual([]);
      expect(await scanKeys(redis, prefix)).toEqual([]);
      // The logs it pointed to are there, and hold no secret it generated.
      const gatewayLog = readFileSync(join(logDir, 'gateway.log'), 'utf8');
      expect(gatewayLog).toContain('gateway started');
      for (const name of ['gateway', 'node-demo-a', 'node-demo-b', 'usage-worker']) {
        const log = readFileSync(join(logDir, `${name}.log`), 'utf8');
        expect(log).not.toContain(userKey);
        expect(log).not.toContain(adminToken);
      }
    } finally {
      demo.proc.kill('SIGKILL');
    }
  }, 200_000);

  test('without any Redis it prints one line saying what to install, and exits 1', async () => {
    // A PATH with node, npm and sh only (so no redis-server), and a "local Redis" address nothing listens on.
    const bin = mkdtempSync(join(tmpdir(), 'sy-demo-bin-'));
    try {
      for (const tool of ['node', 'npm', 'sh']) symlinkSync(onPath(tool), join(bin, tool));
      const deadPort = await freePort();
      const demo = runDemo([], { ...baseChildEnv(), PATH: bin, DEMO_LOCAL_REDIS: `127.0.0.1:${deadPort}` });
      const exit = await demo.exited;
      expect(exit.code).toBe(1);
      const lines = demo
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('switchyard demo:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`nothing answers on 127.0.0.1:${deadPort}`);
      expect(lines[0]).toMatch(
        /apt-get install redis-server.*brew install redis.*docker run -d -p 127\.0\.0\.1:6379:6379 redis:7-alpine/,
      );
      expect(demo.output()).not.toContain('Switchyard demo');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  }, 60_000);
});
