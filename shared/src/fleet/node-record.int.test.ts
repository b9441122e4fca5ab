// The registry on a real Redis, through both adapters the gateway may use.
import { initialAccountState } from '../anthropic/account-state.js';
import { createIoRedisClient, createIoRedisStore } from '../redis/ioredis-store.js';
import { createKeyspace } from '../redis/keys.js';
import type { SharedStore } from '../redis/store.js';
import { createUpstashClient, createUpstashStore } from '../redis/upstash-store.js';
import { testRedisUrl, uniquePrefix } from '../testing/config.js';
import { startUpstashEmulator } from '../testing/upstash-emulator.js';
import type { NodeRecord } from './node-record.js';
import { readNodeRecords, removeNodeRecord, writeNodeRecord } from './node-record.js';

function sampleRecord(nodeId: string): NodeRecord {
  const now = Date.now();
  return {
    nodeId,
    url: `http://${nodeId}.internal:8090`,
    accountKind: 'oauth',
    accountLabel: `${nodeId}@example.com`,
    state: { ...initialAccountState(now), state: 'limited', limitedUntil: now + 60_000, limitedFamilies: { opus: now + 90_000 } },
    inFlight: 0,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt: now,
    heartbeatAt: now,
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

type Adapter = { store: SharedStore; stop: () => Promise<void> };

const adapters: [string, () => Promise<Adapter>][] = [
  ['ioredis', () => {
    const store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    return Promise.resolve({ store, stop: () => store.close() });
  }],
  ['upstash', async () => {
    const emulator = await startUpstashEmulator({ redisUrl: testRedisUrl() });
    return { store: createUpstashStore(createUpstashClient(emulator)), stop: () => emulator.stop() };
  }],
];

describe.each(adapters)('node registry on Redis via %s', (label, open) => {
  const keys = createKeyspace(uniquePrefix(`fleet-${label}`));
  const ids = ['node-a', 'node-b', 'broken'];
  let adapter: Adapter;

  beforeAll(async () => {
    adapter = await open();
  });

  afterEach(async () => {
    await adapter.store.del(keys.nodes(), ...ids.map((id) => keys.node(id)));
  });

  afterAll(() => adapter.stop());

  test('round trip, then the entry expires by its TTL and the node drops out by itself', async () => {
    const { store } = adapter;
    const a = sampleRecord('node-a');
    await writeNodeRecord(store, keys, a, 250);
    await writeNodeRecord(store, keys, sampleRecord('node-b'), 60_000);
    const first = await readNodeRecords(store, keys);
    expect(first.map((r) => r.nodeId)).toEqual(['node-a', 'node-b']);
    expect(first[0]).toEqual(a);

    const dropped = await until(async () => (await readNodeRecords(store, keys)).length === 1, 5_000);
    expect(dropped).toBe(true);
    expect((await readNodeRecords(store, keys)).map((r) => r.nodeId)).toEqual(['node-b']);
    expect(await store.smembers(keys.nodes())).toEqual(['node-b']);
  });

  test('a malformed entry is skipped without failing the read', async () => {
    const { store } = adapter;
    await writeNodeRecord(store, keys, sampleRecord('node-a'), 60_000);
    await store.set(keys.node('broken'), '{"nodeId":"broken"', { ttlMs: 60_000 });
    await store.sadd(keys.nodes(), 'broken');
    const malformed: string[] = [];
    const records = await readNodeRecords(store, keys, { onMalformed: (id) => malformed.push(id) });
    expect(records.map((r) => r.nodeId)).toEqual(['node-a']);
    expect(malformed).toEqual(['broken']);
  });

  test('removeNodeRecord takes the node out before its TTL', async () => {
    const { store } = adapter;
    await writeNodeRecord(store, keys, sampleRecord('node-a'), 60_000);
    await removeNodeRecord(store, keys, 'node-a');
    expect(await readNodeRecords(store, keys)).toEqual([]);
    expect(await store.smembers(keys.nodes())).toEqual([]);
  });
});
