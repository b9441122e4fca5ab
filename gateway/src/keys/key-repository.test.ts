import { createKeyspace, type SharedStore } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/testkit';
import { keyDigest } from './gateway-key.js';
import { createKeyRepository, type KeySettings } from './key-repository.js';

const SETTINGS: KeySettings = {
  name: 'k',
  enabled: true,
  expiresAt: null,
  allowedModels: null,
  allowedBetas: null,
  rpm: null,
  concurrency: null,
  dailyTokenBudget: null,
};
const keys = createKeyspace('t:');

describe('key repository', () => {
  it('stores the same record under the id and the digest, and lists ids', async () => {
    const store = createMemoryStore();
    const repo = createKeyRepository({ store, keys });
    const { key, record } = await repo.create({ ...SETTINGS, rpm: 3 });
    expect(record.digest).toBe(keyDigest(key));
    const byId = await store.get(keys.keyById(record.id));
    expect(byId).not.toBeNull();
    expect(await store.get(keys.keyByDigest(record.digest))).toBe(byId);
    expect(await store.smembers(keys.keyIds())).toEqual([record.id]);
    expect(await repo.list()).toEqual([record]);
  });

  it('edits both copies and keeps createdAt; null clears a limit', async () => {
    let t = 1000;
    const store = createMemoryStore();
    const repo = createKeyRepository({ store, keys, now: () => t });
    const { record } = await repo.create({ ...SETTINGS, rpm: 3 });
    t = 2000;
    const next = await repo.update(record.id, { rpm: null, name: 'renamed' });
    expect(next).toEqual({ ...record, rpm: null, name: 'renamed', updatedAt: 2000 });
    expect(await store.get(keys.keyByDigest(record.digest))).toBe(await store.get(keys.keyById(record.id)));
  });

  it('answers unknown and unaddressable ids as absent', async () => {
    const repo = createKeyRepository({ store: createMemoryStore(), keys });
    expect(await repo.get('key_nope')).toBeUndefined();
    expect(await repo.get('a:b')).toBeUndefined();
    expect(await repo.update('key_nope', { rpm: 1 })).toBeUndefined();
    expect(await repo.revoke('with space')).toBe(false);
  });

  it('removes every trace on revoke', async () => {
    const store = createMemoryStore();
    const repo = createKeyRepository({ store, keys });
    const { record } = await repo.create(SETTINGS);
    expect(await repo.revoke(record.id)).toBe(true);
    expect(await store.get(keys.keyByDigest(record.digest))).toBeNull();
    expect(await store.get(keys.keyById(record.id))).toBeNull();
    expect(await store.smembers(keys.keyIds())).toEqual([]);
    expect(await repo.revoke(record.id)).toBe(false);
  });

  it('never revives a key revoked while an edit was in progress', async () => {
    const inner = createMemoryStore();
    let revokeNow: (() => Promise<unknown>) | undefined;
    // Runs the revocation right after the edit wrote the id copy, before it reaches the digest copy.
    const store: SharedStore = {
      ...inner,
      compareAndSet: async (key, expected, next, opts) => {
        const wrote = await inner.compareAndSet(key, expected, next, opts);
        const pending = revokeNow;
        revokeNow = undefined;
        if (pending) await pending();
        return wrote;
      },
    };
    const repo = createKeyRepository({ store, keys });
    const { record } = await repo.create(SETTINGS);
    revokeNow = () => repo.revoke(record.id);
    expect(await repo.update(record.id, { enabled: true, rpm: 9 })).toBeUndefined();
    expect(await inner.get(keys.keyByDigest(record.digest))).toBeNull();
  });
});
