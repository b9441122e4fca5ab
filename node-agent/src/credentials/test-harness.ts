// Test-only helpers for the credentials integration tests: the fake upstream, a Redis store under a unique
// prefix, a captured logger, a temp CREDENTIALS_DIR, and a manual clock. Imported only by *.test.ts files.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createIoRedisClient, createIoRedisStore, createKeyspace, createLogger, type Keyspace, type Logger, type SharedStore } from '@switchyard/shared';
import { createFakeAnthropic, deleteKeys, type FakeAnthropic, type FakeAnthropicOptions, testRedisUrl, uniquePrefix } from '@switchyard/shared/testing';
import { createEgress, type Egress } from '../upstream/egress.js';
import type { AccountConfig } from './create-account-auth.js';
import type { Sleep } from './sleep.js';

type Redis = ReturnType<typeof createIoRedisClient>;

/** A logger whose lines are kept for assertions. */
export interface CapturedLog {
  log: Logger;
  lines(): string[];
  /** Parsed JSON lines. */
  records(): Record<string, unknown>[];
}

/** Creates a JSON logger writing into memory. */
export function captureLog(): CapturedLog {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const lines = () => chunks.join('').split('\n').filter((l) => l.trim() !== '');
  return {
    log: createLogger({ service: 'node-agent-test', level: 'debug', stream }),
    lines,
    records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Polls `check` until it holds (real time); throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A clock that moves only when told, with a {@link Sleep} that wakes on it. */
export interface ManualClock {
  now(): number;
  sleep: Sleep;
  /** Sleepers currently waiting. */
  readonly pending: number;
  /**
   * Moves time forward by `ms`, waking sleepers in deadline order. After each wake it waits (real time) until as many
   * sleepers wait again as before, so the work a wake started (Redis, HTTP) finishes before time moves on.
   */
  advance(ms: number): Promise<void>;
}

export function createManualClock(start = Date.now()): ManualClock {
  let t = start;
  const sleepers = new Set<{ until: number; wake: () => void }>();
  const clock: ManualClock = {
    now: () => t,
    get pending() {
      return sleepers.size;
    },
    sleep: (ms, signal) =>
      new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const entry = { until: t + ms, wake: () => {} };
        entry.wake = () => {
          sleepers.delete(entry);
          signal.removeEventListener('abort', entry.wake);
          resolve();
        };
        sleepers.add(entry);
        signal.addEventListener('abort', entry.wake, { once: true });
      }),
    async advance(ms) {
      const target = t + ms;
      for (;;) {
        const due = [...sleepers].filter((s) => s.until <= target).sort((a, b) => a.until - b.until)[0];
        if (!due) break;
        const before = sleepers.size;
        t = Math.max(t, due.until);
        due.wake();
        await waitFor(() => sleepers.size >= before, 10_000, 'the woken work to settle');
      }
      t = target;
    },
  };
  return clock;
}

/** Everything an account test needs; cleanup() removes it all. */
export interface Harness {
  fake: FakeAnthropic;
  url: string;
  redis: Redis;
  store: SharedStore;
  keys: Keyspace;
  nodeId: string;
  dir: string;
  egress: Egress;
  captured: CapturedLog;
  /** A config pointing at the fake, with no OAuth variables set unless given. */
  config(overrides?: Partial<AccountConfig>): AccountConfig;
  /** A second connection to the same Redis (a "second container"). */
  secondStore(): SharedStore;
  cleanup(): Promise<void>;
}

export async function createHarness(opts: { fake?: FakeAnthropicOptions; redisUrl?: string; label?: string } = {}): Promise<Harness> {
  const fake = createFakeAnthropic(opts.fake ?? { accounts: [{ id: 'acct-1', email: 'one@example.test' }] });
  const url = await fake.start();
  const redisUrl = opts.redisUrl ?? testRedisUrl();
  const redis = createIoRedisClient(redisUrl);
  const store = createIoRedisStore(redis);
  const prefix = uniquePrefix(opts.label ?? 'cred');
  const keys = createKeyspace(prefix);
  const dir = await mkdtemp(join(tmpdir(), 'sy-cred-'));
  const egress = createEgress();
  const extra: SharedStore[] = [];
  const nodeId = 'node-a';
  return {
    fake,
    url,
    redis,
    store,
    keys,
    nodeId,
    dir,
    egress,
    captured: captureLog(),
    config: (overrides = {}) => ({
      NODE_ID: nodeId,
      ANTHROPIC_API_KEY: undefined,
      CLAUDE_REFRESH_TOKEN: undefined,
      CLAUDE_CREDENTIALS_FILE: undefined,
      CREDENTIALS_DIR: join(dir, 'mirror'),
      ANTHROPIC_OAUTH_TOKEN_URL: `${url}/v1/oauth/token`,
      ANTHROPIC_BASE_URL: url,
      OAUTH_CLIENT_ID: '9d1c250a-e61b-44d9-88ed-5944d1962f5e',
      REFRESH_MARGIN_MS: 10 * 60_000,
      ...overrides,
    }),
    secondStore() {
      const s = createIoRedisStore(createIoRedisClient(redisUrl));
      extra.push(s);
      return s;
    },
    async cleanup() {
      if (redis.status === 'ready') await deleteKeys(redis, prefix);
      await Promise.allSettled([store.close(), ...extra.map((s) => s.close())]);
      egress.destroy();
      await fake.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every credential the fake saw or issued in its records: what must never show up in a log line. */
export function tokensSeenByFake(fake: FakeAnthropic): string[] {
  const tokens = new Set<string>();
  for (const r of fake.tokenRequests) if (r.refreshToken) tokens.add(r.refreshToken);
  for (const r of fake.requests) if (r.accessToken) tokens.add(r.accessToken);
  return [...tokens];
}

/** The tokens (and their distinctive tails, to catch partial leaks) that appear in any of `lines`. */
export function leakedTokens(lines: readonly string[], tokens: readonly string[]): string[] {
  const text = lines.join('\n');
  return tokens.filter((t) => text.includes(t) || (t.length > 24 && text.includes(t.slice(-16))));
}
