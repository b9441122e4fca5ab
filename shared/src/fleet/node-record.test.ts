import { initialAccountState } from '../anthropic/account-state.js';
import { createKeyspace } from '../redis/keys.js';
import { createMemoryStore } from '../testing/memory-store.js';
import type { NodeRecord } from './node-record.js';
import { readNodeRecords, removeNodeRecord, writeNodeRecord } from './node-record.js';

const T0 = 1_750_000_000_000;

function sampleRecord(nodeId: string, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    nodeId,
    url: `http://${nodeId}.internal:8090`,
    accountKind: 'oauth',
    accountLabel: `${nodeId}@example.com`,
    state: { ...initialAccountState(T0), fiveHour: { utilization: 0.4, resetAt: T0 + 3_600_000 } },
    inFlight: 2,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt: T0 - 60_000,
    heartbeatAt: T0,
    ...overrides,
  };
}

function setup() {
  let now = T0;
  const store = createMemoryStore({ now: () => now });
  const keys = createKeyspace('unit:');
  return { store, keys, advance: (ms: number) => (now += ms) };
}

describe('node registry (memory store)', () => {
  test('what a node writes is what the gateway reads, sorted by id', async () => {
    const { store, keys } = setup();
    await writeNodeRecord(store, keys, sampleRecord('node-b'), 15_000);
    await writeNodeRecord(store, keys, sampleRecord('node-a', { accountKind: 'api_key', accountLabel: 'sk-…F1' }), 15_000);
    const records = await readNodeRecords(store, keys);
    expect(records.map((r) => r.nodeId)).toEqual(['node-a', 'node-b']);
    expect(records[1]).toEqual(sampleRecord('node-b'));
    expect(records[0]?.accountKind).toBe('api_key');
  });

  test('a node whose entry expired is not listed, and its id leaves the set', async () => {
    const { store, keys, advance } = setup();
    await writeNodeRecord(store, keys, sampleRecord('node-a'), 15_000);
    await writeNodeRecord(store, keys, sampleRecord('node-b'), 30_000);
    advance(15_001);
    expect((await readNodeRecords(store, keys)).map((r) => r.nodeId)).toEqual(['node-b']);
    expect(await store.smembers(keys.nodes())).toEqual(['node-b']);
  });

  test('malformed entries are skipped and reported, never thrown; the healthy node is still listed', async () => {
    const { store, keys } = setup();
    await writeNodeRecord(store, keys, sampleRecord('good'), 15_000);
    await store.set(keys.node('garbage'), '{not json');
    await store.set(keys.node('shape'), JSON.stringify({ nodeId: 'shape', url: 'http://x' }));
    await store.set(keys.node('liar'), JSON.stringify(sampleRecord('someone-else')));
    await store.sadd(keys.nodes(), 'garbage', 'shape', 'liar');
    const reported: string[] = [];
    const records = await readNodeRecords(store, keys, { onMalformed: (id) => reported.push(id) });
    expect(records.map((r) => r.nodeId)).toEqual(['good']);
    expect(reported.sort()).toEqual(['garbage', 'liar', 'shape']);
    // Left for their nodes to overwrite on the next beat.
    expect((await store.smembers(keys.nodes())).sort()).toEqual(['garbage', 'good', 'liar', 'shape']);
  });

  test('an id that cannot name a key is dropped from the set instead of failing the read', async () => {
    const { store, keys } = setup();
    await writeNodeRecord(store, keys, sampleRecord('node-a'), 15_000);
    await store.sadd(keys.nodes(), 'bad id', 'a:b');
    expect((await readNodeRecords(store, keys)).map((r) => r.nodeId)).toEqual(['node-a']);
    expect(await store.smembers(keys.nodes())).toEqual(['node-a']);
  });

  test('fields a newer node adds do not hide it from an older gateway', async () => {
    const { store, keys } = setup();
    await store.set(keys.node('node-n'), JSON.stringify({ ...sampleRecord('node-n'), egress: '127.0.0.2' }));
    await store.sadd(keys.nodes(), 'node-n');
    expect((await readNodeRecords(store, keys)).map((r) => r.nodeId)).toEqual(['node-n']);
  });

  test('an invalid record is refused at the writer and nothing is published', async () => {
    const { store, keys } = setup();
    await expect(writeNodeRecord(store, keys, sampleRecord('node-a', { url: 'ftp://node-a' }), 15_000)).rejects.toThrow();
    await expect(writeNodeRecord(store, keys, sampleRecord('node-a', { inFlight: -1 }), 15_000)).rejects.toThrow();
    expect(await store.smembers(keys.nodes())).toEqual([]);
    expect(await store.get(keys.node('node-a'))).toBeNull();
  });

  test('removeNodeRecord takes the node out at once', async () => {
    const { store, keys } = setup();
    await writeNodeRecord(store, keys, sampleRecord('node-a'), 15_000);
    await writeNodeRecord(store, keys, sampleRecord('node-b'), 15_000);
    await removeNodeRecord(store, keys, 'node-a');
    expect((await readNodeRecords(store, keys)).map((r) => r.nodeId)).toEqual(['node-b']);
    expect(await store.get(keys.node('node-a'))).toBeNull();
  });

  test('an empty registry reads as no nodes', async () => {
    const { store, keys } = setup();
    expect(await readNodeRecords(store, keys)).toEqual([]);
  });
});
