// "Off, a process loads only @opentelemetry/api and none of the SDK or the exporter" (docs/TRACING.md), shown on
// the built processes as the images run them (gateway/dist/main.js, node-agent/dist/main.js,
// gateway/dist/usage-worker/main.js): every module each one resolves is traced to a file
// (scripts/trace-modules.mjs, a module.register() resolve hook plus CommonJS's resolver) while a request goes
// through and its usage is counted. The same run with a collector set, beside it, shows the SDK loaded, so the
// check can fail. The test's own environment carries an OTLP endpoint meanwhile: nothing of it may reach the
// processes of the run without one.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { createKeyspace } from '@switchyard/shared';
import {
  startOtlpReceiver,
  startStack,
  testRedisUrl,
  waitFor,
  type OtlpReceiver,
  type StackTracing,
} from '@switchyard/testkit';

jest.setTimeout(120_000);

const ROLES = ['gateway', 'node', 'worker'] as const;
type Role = (typeof ROLES)[number];
/** Each built entry, as its trace names it. */
const ENTRIES: Record<Role, string> = {
  gateway: '/gateway/dist/main.js',
  node: '/node-agent/dist/main.js',
  worker: '/gateway/dist/usage-worker/main.js',
};
/** What tracing on loads and tracing off must not: the SDK, the exporter and what they pull in. */
const SDK_PACKAGES = [
  'sdk-trace-base',
  'sdk-trace-node',
  'exporter-trace-otlp-http',
  'otlp-exporter-base',
  'otlp-transformer',
  'resources',
];

const dir = mkdtempSync(join(tmpdir(), 'sy-tracing-off-'));
const hook = resolve('scripts/trace-modules.mjs');
let receiver: OtlpReceiver;
let redis: Redis;

beforeAll(async () => {
  for (const entry of Object.values(ENTRIES))
    if (!existsSync(`.${entry}`)) throw new Error(`.${entry} is missing: run npm run build first`);
  receiver = await startOtlpReceiver();
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  redis?.disconnect();
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The @opentelemetry packages among the resolved modules (`api`, `sdk-trace-node`, …), sorted, once each. */
function otelPackages(modules: string[]): string[] {
  const names = modules.map((m) => /node_modules\/@opentelemetry\/([^/]+)\//.exec(m)?.[1]).filter(Boolean);
  return [...new Set(names as string[])].sort();
}

/**
 * Starts the built stack (one node, the worker) with every process's modules traced, sends a streamed and a
 * plain request, waits until the worker counted both, stops it; returns what each process resolved.
 */
async function modulesOfARun(label: string, otel: StackTracing | undefined): Promise<Record<Role, string[]>> {
  const files: Record<Role, string> = {
    gateway: join(dir, `${label}-gateway.txt`),
    node: join(dir, `${label}-node.txt`),
    worker: join(dir, `${label}-worker.txt`),
  };
  const stack = await startStack({
    redisUrl: testRedisUrl(),
    from: 'dist',
    nodeIds: ['node-a'],
    nodeArgs: () => [`--import=${hook}`],
    gatewayEnv: { TRACE_MODULES_FILE: files.gateway },
    nodeEnv: { TRACE_MODULES_FILE: files.node },
    worker: { TRACE_MODULES_FILE: files.worker },
    ...(otel === undefined ? {} : { otel }),
  });
  try {
    await stack.waitReady();
    const { key } = await stack.createKey();
    for (const stream of [true, false]) {
      const res = await fetch(`${stack.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({
          model: 'claude-sonnet-4-6',
          max_tokens: 64,
          stream,
          messages: [{ role: 'user', content: 'hello' }],
        }),
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    const counted = async () =>
      Number((await redis.hget(createKeyspace(stack.prefix).usageAllTime(), 'requests')) ?? 0);
    await waitFor('both requests counted by the worker', async () => (await counted()) >= 2, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  } finally {
    await stack.stop();
  }
  const read = (role: Role) => readFileSync(files[role], 'utf8').split('\n').filter(Boolean);
  return { gateway: read('gateway'), node: read('node'), worker: read('worker') };
}

it('with tracing off, no process loads the SDK or the exporter; with a collector set, each one does', async () => {
  // The two runs side by side: off, with an endpoint (a second receiver, the bait) in this process's environment
  // that its children must not inherit; on, exporting to the receiver through the stack's otel option.
  const bait = await startOtlpReceiver();
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = bait.url;
  let off: Record<Role, string[]>;
  let on: Record<Role, string[]>;
  try {
    [off, on] = await Promise.all([modulesOfARun('off', undefined), modulesOfARun('on', { endpoint: receiver.url })]);
  } finally {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
    await bait.close();
  }

  // 1. Off: the trace saw each process (its built entry and the kernel it shares), and of OpenTelemetry at most
  //    the API (its no-op tracer); nothing reached the bait.
  for (const role of ROLES) {
    expect(off[role].some((m) => m.endsWith(ENTRIES[role]))).toBe(true);
    expect(off[role].some((m) => m.includes('/shared/dist/'))).toBe(true);
    expect({ role, otel: otelPackages(off[role]).filter((p) => p !== 'api') }).toEqual({ role, otel: [] });
  }
  expect(bait.exports()).toEqual([]);

  // 2. On: the SDK and the exporter in every process, and each one's spans at the receiver (flushed by the time
  //    it stopped).
  for (const role of ROLES) {
    expect(on[role].some((m) => m.endsWith(ENTRIES[role]))).toBe(true);
    const missing = SDK_PACKAGES.filter((p) => !otelPackages(on[role]).includes(p));
    expect({ role, missing }).toEqual({ role, missing: [] });
  }
  expect(new Set(receiver.spans().map((s) => s.service))).toEqual(
    new Set(['switchyard-gateway', 'switchyard-node-agent', 'switchyard-worker']),
  );
});
