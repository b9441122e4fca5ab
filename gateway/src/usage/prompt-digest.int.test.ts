// Which prompt blocks a usage job ships, asked of a real Redis the way the worker leaves it.
import { Redis } from 'ioredis';
import { blockHash, createKeyspace, promptBlocks, withDeadline, type PromptParts } from '@switchyard/shared';
import { deleteKeys, freePort, startRedisServer, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createKnownHashes, type KnownHashes } from './known-hashes.js';
import { createPromptDigester, type PromptDigester } from './prompt-digest.js';

const ENCODING = 'o200k_base';
const prefix = uniquePrefix('digest');
const keys = createKeyspace(prefix);
let redis: Redis;
let asked: string[][];

beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
beforeEach(() => {
  asked = [];
});
afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

function digester(
  opts: {
    known?: KnownHashes;
    mget?: (k: readonly string[]) => Promise<(string | null)[]>;
    timeoutMs?: number;
    encoding?: string;
  } = {},
): PromptDigester {
  return createPromptDigester({
    mget:
      opts.mget ??
      ((k) => {
        asked.push([...k]);
        return redis.mget(...k);
      }),
    keys,
    encoding: opts.encoding ?? ENCODING,
    known: opts.known ?? createKnownHashes(),
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
}

/** What the worker does after counting a block: its count under the block's key, with a TTL. */
async function workerCounted(hashes: readonly string[], encoding = ENCODING): Promise<void> {
  const multi = redis.multi();
  for (const hash of hashes) multi.set(keys.blockTokens(encoding, hash), '17', 'EX', 3_600);
  await multi.exec();
}

let turnSalt = 0;
function conversation(turns: number): PromptParts {
  const salt = `${process.pid}-${++turnSalt}-${Math.random()}`;
  const messages: unknown[] = [];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: 'user', content: [{ type: 'text', text: `question ${t} ${salt}` }] });
    if (t < turns - 1) messages.push({ role: 'assistant', content: [{ type: 'text', text: `answer ${t} ${salt}` }] });
  }
  return {
    tools: [{ name: 'lookup', description: `find things ${salt}`, input_schema: { type: 'object' } }],
    system: [{ type: 'text', text: `You are helpful ${salt}`, cache_control: { type: 'ephemeral' } }],
    messages,
  };
}

/** The next turn of a conversation: the assistant's answer and a new question appended. */
function nextTurn(parts: PromptParts, n: number): PromptParts {
  const messages = [...(parts.messages as unknown[])];
  messages.push(
    { role: 'assistant', content: [{ type: 'text', text: `reply ${n}` }] },
    { role: 'user', content: `follow-up ${n} ${Math.random()}` },
  );
  return { ...parts, messages };
}

const shippedHashes = (d: { digest: { blocks: { hash: string }[] } }) => d.digest.blocks.map((b) => b.hash);

test('the first turn ships every block; every hash is listed in prompt order', async () => {
  const parts = conversation(1);
  const result = await digester().digest(parts, { askRedis: true });
  const expected = promptBlocks(parts).map(blockHash);
  expect(result.source).toBe('redis');
  expect(result.digest.hashes).toEqual(expected);
  expect(shippedHashes(result)).toEqual(expected);
  // The shipped content is the block as counted: no cache_control.
  expect(result.digest.blocks[1]?.block).toEqual({ type: 'text', text: (parts.system as { text: string }[])[0]?.text });
});

test('once the worker counted the blocks, the next turn ships only its new ones', async () => {
  const first = conversation(2);
  const d = digester();
  const turn1 = await d.digest(first, { askRedis: true });
  await workerCounted(shippedHashes(turn1));

  const second = nextTurn(first, 1);
  const turn2 = await digester().digest(second, { askRedis: true });
  const all = promptBlocks(second).map(blockHash);
  expect(turn2.digest.hashes).toEqual(all);
  expect(shippedHashes(turn2)).toEqual(all.slice(-2));
  expect(turn2.digest.blocks.map((b) => b.block)).toEqual([
    { type: 'text', text: 'reply 1' },
    { type: 'text', text: expect.stringMatching(/^follow-up 1 /) as unknown },
  ]);
});

test('counts are per encoding: a block counted under another encoding is shipped', async () => {
  const parts = conversation(1);
  await workerCounted(promptBlocks(parts).map(blockHash), 'cl100k_base');
  const result = await digester().digest(parts, { askRedis: true });
  expect(result.digest.blocks).toHaveLength(promptBlocks(parts).length);
});

test('a block repeated in one prompt is shipped once and listed each time', async () => {
  const parts: PromptParts = {
    messages: [
      { role: 'user', content: 'same' },
      { role: 'assistant', content: 'x' },
      { role: 'user', content: 'same' },
    ],
  };
  const result = await digester().digest(parts, { askRedis: true });
  expect(result.digest.hashes).toHaveLength(3);
  expect(result.digest.hashes[0]).toBe(result.digest.hashes[2]);
  expect(result.digest.blocks).toHaveLength(2);
});

test('a huge history is asked in batches and every answer lands on its own block', async () => {
  const parts = conversation(1300); // 2,601 messages + tool + system
  const all = promptBlocks(parts).map(blockHash);
  // The worker knows every other block.
  const counted = all.filter((_h, i) => i % 2 === 0);
  await workerCounted(counted);
  const result = await digester().digest(parts, { askRedis: true });
  expect(asked.length).toBe(Math.ceil(all.length / 1_000));
  expect(asked.every((batch) => batch.length <= 1_000)).toBe(true);
  expect(shippedHashes(result)).toEqual(all.filter((_h, i) => i % 2 === 1));
});

describe('the in-process memory of confirmed hashes', () => {
  test('a history Redis confirmed is not asked about again; only new blocks are', async () => {
    const known = createKnownHashes();
    const d = digester({ known });
    const first = conversation(3);
    await workerCounted(shippedHashes(await d.digest(first, { askRedis: true })));
    // Turn 2 learns from Redis that the history is counted.
    const second = nextTurn(first, 1);
    await d.digest(second, { askRedis: true });
    asked = [];
    const third = nextTurn(second, 2);
    const result = await d.digest(third, { askRedis: true });
    const all = promptBlocks(third).map(blockHash);
    // Only turn 2's two new blocks (not yet confirmed) and turn 3's two are asked about.
    expect(asked).toHaveLength(1);
    expect(asked[0]).toHaveLength(4);
    expect(shippedHashes(result)).toEqual(all.slice(-4));
  });

  test('a prompt made only of confirmed blocks costs no Redis call', async () => {
    const d = digester();
    const parts = conversation(2);
    await workerCounted(promptBlocks(parts).map(blockHash));
    expect((await d.digest(parts, { askRedis: true })).digest.blocks).toEqual([]);
    asked = [];
    const again = await d.digest(parts, { askRedis: true });
    expect(again).toMatchObject({ source: 'memory', digest: { blocks: [] } });
    expect(asked).toEqual([]);
  });

  test('past its TTL a confirmed hash is asked about again', async () => {
    let now = 1_700_000_000_000;
    const known = createKnownHashes({ ttlMs: 60_000, now: () => now });
    const d = createPromptDigester({
      mget: (k) => (asked.push([...k]), redis.mget(...k)),
      keys,
      encoding: ENCODING,
      known,
    });
    const parts = conversation(1);
    await workerCounted(promptBlocks(parts).map(blockHash));
    await d.digest(parts, { askRedis: true });
    now += 60_000;
    await d.digest(parts, { askRedis: true });
    expect(asked).toHaveLength(1);
    now += 1;
    await d.digest(parts, { askRedis: true });
    expect(asked).toHaveLength(2);
  });

  test('past its size cap the oldest confirmed hashes are asked about again', async () => {
    const d = digester({ known: createKnownHashes({ maxEntries: 2 }) });
    const parts = conversation(2); // 5 blocks
    await workerCounted(promptBlocks(parts).map(blockHash));
    await d.digest(parts, { askRedis: true });
    asked = [];
    const result = await d.digest(parts, { askRedis: true });
    expect(asked[0]).toHaveLength(3);
    expect(result.digest.blocks).toEqual([]);
  });
});

describe('Redis away', () => {
  const NEVER_MS = 10 * 60_000;

  test('with Redis down every block not confirmed before is shipped, at once', async () => {
    const known = createKnownHashes();
    const d = digester({ known });
    const first = conversation(2);
    await workerCounted(promptBlocks(first).map(blockHash));
    await d.digest(first, { askRedis: true });

    const down = new Redis({
      port: await freePort(),
      enableOfflineQueue: false,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    down.on('error', () => undefined);
    // A timeout no test outlives: only Redis's refusal, not the timeout, can end this digest in time.
    const offline = createPromptDigester({
      mget: (k) => down.mget(...k),
      keys,
      encoding: ENCODING,
      known,
      timeoutMs: NEVER_MS,
    });
    const second = nextTurn(first, 1);
    const result = await withDeadline(offline.digest(second, { askRedis: true }), 20_000, 'digest with Redis down');
    expect(result.source).toBe('redis_failed');
    // The history stays known from before the outage; the new blocks go along.
    expect(shippedHashes(result)).toEqual(promptBlocks(second).map(blockHash).slice(-2));
    down.disconnect();
  });

  test('with Redis known down (askRedis false) nothing is asked and every unknown block ships', async () => {
    const parts = conversation(2);
    await workerCounted(promptBlocks(parts).map(blockHash));
    const result = await digester().digest(parts, { askRedis: false });
    expect(asked).toEqual([]);
    expect(result.source).toBe('memory');
    expect(result.digest.blocks).toHaveLength(promptBlocks(parts).length);
  });

  test('a Redis that stops answering is given up on after the timeout', async () => {
    // Our own redis-server, paused: the connection stays up, commands wait.
    const server = await startRedisServer();
    const stalled = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const admin = new Redis(server.url);
    try {
      if (stalled.status !== 'ready') await new Promise((r) => stalled.once('ready', r));
      // Paused for longer than the test runs (the server is stopped after it): only the timeout can end the wait.
      await admin.call('CLIENT', 'PAUSE', String(NEVER_MS), 'ALL');
      const known = createKnownHashes();
      const d = createPromptDigester({
        mget: (k) => stalled.mget(...k),
        keys,
        encoding: ENCODING,
        known,
        timeoutMs: 150,
      });
      const parts = conversation(1);
      const started = performance.now();
      const result = await withDeadline(d.digest(parts, { askRedis: true }), 20_000, 'digest with Redis paused');
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      expect(result.source).toBe('redis_failed');
      expect(result.digest.blocks).toHaveLength(promptBlocks(parts).length);
      // Nothing unconfirmed is remembered as known.
      expect(known.size()).toBe(0);
    } finally {
      stalled.disconnect();
      admin.disconnect();
      await server.stop();
    }
  });
});
