// The images' commands, run without Docker. Both Dockerfiles are built on this host (build-without-docker:
// the build and runtime stages' RUN commands in order, COPY between stages as copies between directories,
// the OS layer's apt/chown left out), then each runtime directory starts exactly what the image starts:
// its CMD with its ENV (plus this test's Redis, secrets, ports and data directories, which compose gives
// a container), the worker command the stack's compose file gives the gateway image, and the node's login
// command. The node is enrolled through the admin API and dials in to the gateway with its token alone: no
// Redis, no shared secret anywhere in its environment, and its listener on loopback by default. A request
// goes client → gateway → (the node's tunnel) → node → fake Anthropic, the health checks pass while the
// services serve and fail once they stopped, and SIGTERM (what tini forwards on `docker stop`) ends each
// process with exit 0.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import {
  baseChildEnv,
  createFakeAnthropic,
  deleteKeys,
  freePort,
  testRedisUrl,
  uniquePrefix,
  type FakeAnthropic,
  waitFor,
} from '@switchyard/testkit';
import { buildWithoutDocker, copyBuildContext, type BuiltImage } from './build-without-docker.js';

jest.setTimeout(60_000);

const ROOT = process.cwd();
const GIT_SHA = randomBytes(20).toString('hex');
const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const versionOf = (workspace: string) => readJson<{ version: string }>(join(ROOT, workspace, 'package.json')).version;
/** The worker's command and health check, as the stack's compose file gives them to the gateway image. */
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { command?: string[]; healthcheck?: { test: string[] } }>;
};
const WORKER_CMD = compose.services.worker?.command ?? [];
const WORKER_HEALTHCHECK = (compose.services.worker?.healthcheck?.test ?? []).slice(1);
const LOGIN_CMD = ['node', 'node-agent/dist/login-main.js'];

let work: string;
let gatewayImage: BuiltImage;
let nodeImage: BuiltImage;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sy-images-'));
  const context = join(work, 'context');
  copyBuildContext(ROOT, context);
  const build = (workspace: string, reuse?: BuiltImage) =>
    buildWithoutDocker({
      dockerfile: join(context, workspace, 'Dockerfile'),
      context,
      workRoot: join(work, workspace),
      buildArgs: { VERSION: versionOf(workspace), GIT_SHA },
      skipRunIn: ['base'],
      baseEnv: baseChildEnv(),
      // The build stage is the same in both files (the builder checks): built once, as Docker's cache would.
      ...(reuse === undefined ? {} : { reuse: new Map([['build', reuse.stages.get('build')!]]) }),
    });
  gatewayImage = await build('gateway');
  nodeImage = await build('node-agent', gatewayImage);
}, 240_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** Every file under dir (node_modules left out), relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .filter((top) => top !== 'node_modules')
    .flatMap((top) =>
      statSync(join(dir, top)).isDirectory()
        ? readdirSync(join(dir, top), { recursive: true, withFileTypes: true })
        : [],
    )
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .concat(readdirSync(dir).filter((top) => statSync(join(dir, top)).isFile()));
}

describe('the built images', () => {
  it('leave out only the OS layer (tini, data directories), which does nothing for the app', () => {
    for (const image of [gatewayImage, nodeImage]) {
      expect(image.skipped.length).toBeGreaterThan(0);
      expect(image.skipped.join('\n')).not.toMatch(/\bnpm\b|\/app\b/);
    }
    expect(gatewayImage.skipped.join('\n')).toContain('tini');
  });

  it('carry the version and git sha they were built from in their labels', () => {
    expect(gatewayImage.labels).toMatchObject({
      'org.opencontainers.image.version': versionOf('gateway'),
      'org.opencontainers.image.revision': GIT_SHA,
    });
    expect(nodeImage.labels).toMatchObject({
      'org.opencontainers.image.version': versionOf('node-agent'),
      'org.opencontainers.image.revision': GIT_SHA,
    });
  });

  it('hold production dependencies and compiled code only: no dev tools, no TypeScript sources, no test fakes', () => {
    const devOnly = Object.keys(
      readJson<{ devDependencies: Record<string, string> }>(join(ROOT, 'package.json')).devDependencies,
    );
    for (const image of [gatewayImage, nodeImage]) {
      expect(devOnly.filter((name) => existsSync(join(image.dir, 'node_modules', name)))).toEqual([]);
      const files = filesUnder(image.dir);
      expect(files.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.split('/').includes('src'))).toEqual(
        [],
      );
      // No test code, and nothing was deleted to get there (the build stage ends with tsc: dockerfiles.test.ts). Of
      // the test kit only its manifest is there, which npm ci needs to read the lockfile's workspaces.
      expect(
        files.filter((f) => {
          const parts = f.split('/');
          return (
            parts.includes('testing') ||
            (parts.includes('testkit') && f !== 'testkit/package.json') ||
            /\.(int\.)?test\.|test-harness\.|-contract\./.test(parts.at(-1) ?? '')
          );
        }),
      ).toEqual([]);
      expect(existsSync(join(image.dir, 'testkit', 'src'))).toBe(false);
      expect(existsSync(join(image.dir, 'node_modules', '@switchyard', 'testkit', 'src'))).toBe(false);
      expect(files).toContain('shared/dist/index.js');
    }
    const gatewayFiles = filesUnder(gatewayImage.dir);
    expect(gatewayFiles).toEqual(
      expect.arrayContaining([
        'gateway/dist/main.js',
        'gateway/dist/usage-worker/main.js',
        'gateway/public/dashboard/index.html',
      ]),
    );
    expect(gatewayFiles.filter((f) => f.startsWith('node-agent/dist/'))).toEqual([]);
    const nodeFiles = filesUnder(nodeImage.dir);
    expect(nodeFiles).toEqual(expect.arrayContaining(['node-agent/dist/main.js', 'node-agent/dist/login-main.js']));
    expect(nodeFiles.filter((f) => f.startsWith('gateway/dist/') || f.startsWith('gateway/public/'))).toEqual([]);
  });
});

/** A process started in an image's directory from an argv, as the image's entrypoint would exec it. */
interface Started {
  proc: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

function start(image: BuiltImage, argv: string[], env: Record<string, string>): Started {
  const [command, ...args] = argv;
  if (command !== 'node') throw new Error(`the image runs ${argv.join(' ')}: expected node itself`);
  const proc = spawn(command, args, {
    cwd: image.dir,
    env: { ...baseChildEnv(), ...image.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    async waitFor(pattern, timeoutMs = 20_000) {
      await waitFor(`${String(pattern)} from ${argv.join(' ')}`, () => pattern.test(out), {
        timeoutMs,
        intervalMs: 50,
        stopIf: () => (proc.exitCode === null || pattern.test(out) ? undefined : `it exited (${proc.exitCode})`),
        detail: () => out,
      });
    },
  };
}

/** Runs a health check command in the image's directory, as Docker runs it in the container. */
function check(
  image: BuiltImage,
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const [command, ...args] = argv;
  return new Promise((resolve) => {
    execFile(
      command ?? '',
      args,
      { cwd: image.dir, env: { ...baseChildEnv(), ...image.env, ...env }, timeout: 10_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, output: `${stdout}${stderr}`.trim() });
      },
    );
  });
}

/** Docker's health loop: runs the check until it passes, and returns that run's output. */
async function untilHealthy(
  image: BuiltImage,
  argv: string[],
  env: Record<string, string>,
  service: Started,
): Promise<string> {
  let last = { code: -1, output: '' };
  return waitFor(
    `${argv.join(' ')} to pass`,
    async () => {
      last = await check(image, argv, env);
      return last.code === 0 && last.output;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 200,
      stopIf: () => (service.proc.exitCode === null ? undefined : `the service exited (${service.proc.exitCode})`),
      detail: () => `last: ${last.code} ${last.output}; service output:\n${service.output()}`,
    },
  );
}

describe('the images\u2019 commands, outside Docker', () => {
  const prefix = uniquePrefix('images');
  const redis = new Redis(testRedisUrl(), { lazyConnect: true });
  const started: Started[] = [];
  let fake: FakeAnthropic;

  beforeAll(async () => {
    await redis.connect();
    fake = createFakeAnthropic({
      accounts: [{ id: 'max-1', kind: 'oauth', email: 'max@example.test' }],
      recordBodies: false,
    });
    await fake.start({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    for (const s of started) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    await fake?.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('enrol and log in, serve a request client → gateway → tunnel → node → upstream, count it, report their build, and stop on SIGTERM', async () => {
    const [gatewayPort, nodePort, workerPort] = [await freePort(), await freePort(), await freePort()];
    const data = join(work, 'data');
    const logs = { LOG_FORMAT: 'json', DRAIN_TIMEOUT_MS: '5000' };
    const gatewaySide = { ...logs, REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, HOST: '127.0.0.1' };
    const adminToken = randomBytes(32).toString('hex');
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const gatewayEnv = {
      ...gatewaySide,
      PORT: String(gatewayPort),
      ADMIN_TOKEN: adminToken,
      GATEWAY_ID: 'gateway-image',
      USAGE_SPOOL_DIR: join(data, 'usage-spool'),
      DRAIN_NOTICE_MS: '0',
    };
    const workerEnv = { ...gatewaySide, METRICS_PORT: String(workerPort) };
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`${gatewayUrl}/admin${path}`, {
        ...init,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      });

    // 1. The gateway and the worker, each until its health check passes.
    const gateway = start(gatewayImage, gatewayImage.cmd, gatewayEnv);
    const worker = start(gatewayImage, WORKER_CMD, workerEnv);
    started.push(gateway, worker);
    await untilHealthy(gatewayImage, gatewayImage.healthcheck, gatewayEnv, gateway);
    await untilHealthy(gatewayImage, WORKER_HEALTHCHECK, workerEnv, worker);

    // 2. Enrol the node: its token is answered once. The node's environment is what a node host's .env holds:
    //    GATEWAY_URL, NODE_ID, NODE_TOKEN (plus this test's fake upstream and data directory), no Redis, no HOST.
    const enrolled = await admin('/nodes', { method: 'POST', body: JSON.stringify({ id: 'image-node' }) });
    expect(enrolled.status).toBe(201);
    const { token } = (await enrolled.json()) as { token: string };
    const nodeEnv = {
      ...logs,
      GATEWAY_URL: gatewayUrl,
      NODE_ID: 'image-node',
      NODE_TOKEN: token,
      PORT: String(nodePort),
      CREDENTIALS_DIR: join(data, 'credentials'),
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_OAUTH_TOKEN_URL: `${fake.url}/v1/oauth/token`,
      OAUTH_AUTHORIZE_URL: `${fake.url}/oauth/authorize`,
    };
    expect(
      Object.keys({ ...baseChildEnv(), ...nodeImage.env, ...nodeEnv }).filter((k) =>
        /REDIS|UPSTASH|SECRET|^HOST$/.test(k),
      ),
    ).toEqual([]);
    mkdirSync(nodeEnv.CREDENTIALS_DIR, { recursive: true });

    // 3. The OAuth login, in the node image: it prints the authorize URL, the operator pastes code#state.
    const login = start(nodeImage, LOGIN_CMD, nodeEnv);
    started.push(login);
    await login.waitFor(new RegExp(`^${fake.url}/oauth/authorize\\S+`, 'm'));
    const authorizeUrl = new RegExp(`^${fake.url}/oauth/authorize\\S+`, 'm').exec(login.output())?.[0] ?? '';
    const shown = (await (await fetch(authorizeUrl)).text()).trim();
    login.proc.stdin?.end(`${shown}\n`);
    expect(await login.exited).toBe(0);
    expect(login.output()).toContain('max@example.test');

    // 4. The node (its account is the stored login): its health check passes on loopback, and the gateway is
    //    ready once the node has dialled in.
    const node = start(nodeImage, nodeImage.cmd, nodeEnv);
    started.push(node);
    expect(await untilHealthy(nodeImage, nodeImage.healthcheck, nodeEnv, node)).toMatch(
      /^healthy: GET http:\/\/127\.0\.0\.1:\d+\/health answered 200$/,
    );
    await untilHealthy(gatewayImage, [...gatewayImage.healthcheck.slice(0, -1), '/ready'], gatewayEnv, gateway);

    // 5. A user key, and a request through the gateway and the node's tunnel to the node and on to the upstream.
    const created = await admin('/keys', { method: 'POST', body: JSON.stringify({ name: 'images' }) });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };
    const res = await fetch(`${gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'claude-sonnet-4-6',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Hello from the images' }],
      }),
    });
    const answer = (await res.json()) as { content?: { type: string; text?: string }[] };
    expect(res.status).toBe(200);
    expect(answer.content?.map((b) => b.text ?? '').join('')).toContain('fake Anthropic upstream');

    // 6. The build each process runs: the gateway's /health and what the node reports over its tunnel (GET /admin/nodes).
    expect(await (await fetch(`${gatewayUrl}/health`)).json()).toMatchObject({
      version: versionOf('gateway'),
      gitSha: GIT_SHA,
    });
    const { nodes } = (await (await admin('/nodes')).json()) as {
      nodes: { nodeId: string; version: string; gitSha: string }[];
    };
    expect(nodes.map((n) => [n.nodeId, n.version, n.gitSha])).toEqual([
      ['image-node', versionOf('node-agent'), GIT_SHA],
    ]);

    // 7. The worker counted it, exactly and with its tokeniser's estimate (js-tiktoken loads from the image).
    type AllTime = { requests: number; estimatedInputTokens: number };
    const allTime = await waitFor(
      'the request counted',
      async () => {
        const { allTime: a } = (await (await admin('/usage')).json()) as { allTime: AllTime };
        return a.requests > 0 && a;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(allTime.requests).toBe(1);
    expect(allTime.estimatedInputTokens).toBeGreaterThan(0);

    // 8. SIGTERM, as tini forwards it on `docker stop`: each drains and exits 0, and then its health check fails.
    for (const s of [gateway, worker, node]) s.proc.kill('SIGTERM');
    expect(await Promise.all([gateway.exited, worker.exited, node.exited])).toEqual([0, 0, 0]);
    const after = await Promise.all([
      check(gatewayImage, gatewayImage.healthcheck, gatewayEnv),
      check(gatewayImage, WORKER_HEALTHCHECK, workerEnv),
      check(nodeImage, nodeImage.healthcheck, nodeEnv),
    ]);
    expect(after.map((r) => [r.code, /ECONNREFUSED/.test(r.output)])).toEqual([
      [1, true],
      [1, true],
      [1, true],
    ]);
  });
});
