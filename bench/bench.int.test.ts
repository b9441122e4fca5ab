// The benchmark harness itself, in quick mode, as `npm run bench -- --quick` runs it: every scenario
// reports numbers, nothing failed, the SSE through the chain equals direct, every chain request was
// counted, and the run left no process and no Redis key behind. No timing assertions: targets are the
// benchmark's business, not a test's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { processAlive, scanKeys, testRedisUrl } from '@switchyard/testkit';

jest.setTimeout(180_000);

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  n: number;
  p50: number;
  p99: number;
}
interface Comparison {
  direct: Summary;
  chain: Summary;
  added: { p50: number; p99: number };
  errors: { direct: number; chain: number };
}
interface Load {
  ok: number;
  errors: number;
  rps: number;
}
interface Results {
  mode: string;
  machine: { cpuModel: string; cores: number; node: string; totalMemoryMb: number; gitSha: string };
  redisPrefix: string;
  pids: Record<string, number>;
  counts: { seqSmall: number; seqLarge: number; heldStreams: number; hugeOrdinary: number };
  scenarios: {
    latency1kb: Comparison;
    latency1mb: Comparison;
    firstDelta: Comparison;
    openAi1kb: Comparison;
    fidelity1kb: { equal: boolean };
    fidelity1mb: { equal: boolean };
    heldStreams: {
      streams: number;
      opened: number;
      upstreamClosedMs: number;
      socketsBackMs: number;
      memory: Record<'gateway' | 'node', { beforeMb: number; withMb: number }>;
    };
    throughput1kb: { direct: Load; chain: Load };
    throughput1mb: { direct: Load; chain: Load };
    soak: {
      load: { sent: number; aborted: number; errors: number };
      counted: number;
      countedExactly: boolean;
      backlogGoneMs: number | null;
      depth: { max: number };
    };
    drain: Record<
      'small' | 'long',
      {
        load: { sent: number; errors: number };
        enqueued: number;
        drainMs: number | null;
        counted: number;
        countedExactly: boolean;
        jobsPerWorkerCpuSecond: number;
      }
    >;
    hugeRun: {
      status: number;
      answered: boolean;
      counted: boolean;
      requestId: string | null;
      ordinary: { sent: number; counted: number };
    };
    accounting: {
      chainRequests: number;
      counted: number;
      complete: boolean;
      traceCoversGateway: boolean;
      tokenizerModulesInGateway: string[];
      tracingSdkModulesInGateway: string[];
    };
  };
  targets: { pass?: boolean }[];
  errors: unknown[];
}

it('runs every scenario in quick mode, reports numbers, and cleans up after itself', async () => {
  const run = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'bench/main.ts',
      '--quick',
      '--results-dir',
      dir,
      '--redis-url',
      testRedisUrl(),
    ],
    {
      encoding: 'utf8',
      timeout: 170_000,
    },
  );
  expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
  expect(run.stdout).toContain('| sequential 1 KB | full response p50 (ms) |');

  const results = JSON.parse(readFileSync(join(dir, 'latest-quick.json'), 'utf8')) as Results;
  const { scenarios: s } = results;
  expect(results.mode).toBe('quick');
  expect(results.errors).toEqual([]);
  expect(results.machine.cores).toBeGreaterThan(0);
  expect(results.machine.cpuModel).not.toBe('');
  expect(results.machine.gitSha).toMatch(/^[0-9a-f]{40}$/);

  const latency: [Comparison, number][] = [
    [s.latency1kb, results.counts.seqSmall],
    [s.latency1mb, results.counts.seqLarge],
    [s.firstDelta, 1],
    [s.openAi1kb, results.counts.seqSmall],
  ];
  for (const [c, n] of latency) {
    expect(c.errors).toEqual({ direct: 0, chain: 0 });
    expect(c.direct.n).toBeGreaterThanOrEqual(n);
    expect(c.chain.n).toBe(c.direct.n);
    for (const x of [c.direct.p50, c.direct.p99, c.chain.p50, c.chain.p99, c.added.p50, c.added.p99])
      expect(Number.isFinite(x)).toBe(true);
  }
  for (const t of [s.throughput1kb, s.throughput1mb]) {
    for (const load of [t.direct, t.chain]) {
      expect(load.errors).toBe(0);
      expect(load.ok).toBeGreaterThan(0);
      expect(load.rps).toBeGreaterThan(0);
    }
  }
  expect(s.heldStreams.opened).toBe(s.heldStreams.streams);
  expect(s.heldStreams.streams).toBe(results.counts.heldStreams);
  for (const x of [
    s.heldStreams.upstreamClosedMs,
    s.heldStreams.socketsBackMs,
    s.heldStreams.memory.gateway.withMb,
    s.heldStreams.memory.node.withMb,
  ]) {
    expect(Number.isFinite(x)).toBe(true);
  }
  expect([s.fidelity1kb.equal, s.fidelity1mb.equal]).toEqual([true, true]);
  // The accounting scenarios: load sent and answered, every request counted once, the backlogs drained.
  expect(s.soak.load.errors).toBe(0);
  expect(s.soak.load.sent).toBeGreaterThan(0);
  expect(s.soak.load.aborted).toBeGreaterThan(0);
  expect({ counted: s.soak.counted, exactly: s.soak.countedExactly }).toEqual({
    counted: s.soak.load.sent,
    exactly: true,
  });
  expect(s.soak.backlogGoneMs).not.toBeNull();
  for (const p of [s.drain.small, s.drain.long]) {
    expect(p.load.errors).toBe(0);
    expect(p.enqueued).toBe(p.load.sent);
    expect(p.drainMs).not.toBeNull();
    expect({ counted: p.counted, exactly: p.countedExactly }).toEqual({ counted: p.load.sent, exactly: true });
    expect(p.jobsPerWorkerCpuSecond).toBeGreaterThan(0);
  }
  expect(s.hugeRun).toMatchObject({
    status: 200,
    answered: true,
    counted: true,
    ordinary: { sent: results.counts.hugeOrdinary, counted: results.counts.hugeOrdinary },
  });
  expect(s.hugeRun.requestId).toMatch(/^req_/);
  expect(s.accounting.complete).toBe(true);
  expect(s.accounting.counted).toBe(s.accounting.chainRequests);
  expect(s.accounting.traceCoversGateway).toBe(true);
  expect(s.accounting.tokenizerModulesInGateway).toEqual([]);
  // The bench's stack runs without a collector: tracing off loads none of the SDK.
  expect(s.accounting.tracingSdkModulesInGateway).toEqual([]);
  expect(results.targets.length).toBeGreaterThan(10);

  // Nothing left behind: no process of the run, no key under its prefix.
  expect(Object.values(results.pids).filter(processAlive)).toEqual([]);
  const redis = new Redis(testRedisUrl());
  try {
    expect(await scanKeys(redis, results.redisPrefix)).toEqual([]);
  } finally {
    redis.disconnect();
  }
});
