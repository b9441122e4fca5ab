// Writes and reads of key records. Each record lives twice, as the same JSON string: under its id (the admin's
// handle) and under its digest (what authentication looks up). Creation publishes the digest entry last and
// revocation removes it first, so a half-done operation never leaves a usable key behind.
import { randomBytes } from 'node:crypto';
import { AppError, type Keyspace, type SharedStore } from '@switchyard/shared';
import { generateGatewayKey, keyDigest, keyHint } from './gateway-key.js';
import { parseKeyRecord, type KeyRecord } from './key-record.js';

/** The store operations key records need. */
export type KeyRepositoryStore = Pick<
  SharedStore,
  'get' | 'set' | 'del' | 'mget' | 'compareAndSet' | 'sadd' | 'srem' | 'smembers'
>;

/** The key builders key records need. */
export type KeyRepositoryKeys = Pick<Keyspace, 'keyByDigest' | 'keyById' | 'keyIds'>;

/** The fields an admin sets; everything else is derived. The USD budgets may be left out (none). */
export type KeySettings = Pick<
  KeyRecord,
  'name' | 'enabled' | 'expiresAt' | 'allowedModels' | 'allowedBetas' | 'rpm' | 'concurrency' | 'dailyTokenBudget'
> &
  Partial<Pick<KeyRecord, 'dailyUsdBudget' | 'monthlyUsdBudget'>>;

/** Reads and writes gateway key records. */
export interface KeyRepository {
  /** Creates a key; the raw key is returned here and never stored. */
  create(settings: KeySettings): Promise<{ key: string; record: KeyRecord }>;
  /** Every key, oldest first. */
  list(): Promise<KeyRecord[]>;
  get(id: string): Promise<KeyRecord | undefined>;
  /** Applies the changes; undefined when the key does not exist (or was revoked meanwhile). */
  update(id: string, changes: Partial<KeySettings>): Promise<KeyRecord | undefined>;
  /** Deletes the key; false when it does not exist. */
  revoke(id: string): Promise<boolean>;
}

const CAS_ATTEMPTS = 5;

/** Ids come from URLs: one that could never name a key (':' or whitespace) is simply unknown. */
function idKeyOf(keys: KeyRepositoryKeys, id: string): string | undefined {
  try {
    return keys.keyById(id);
  } catch {
    return undefined;
  }
}

function readable(raw: string): KeyRecord {
  const record = parseKeyRecord(raw);
  if (!record) throw new AppError('internal', 'A stored key record is unreadable');
  return record;
}

function concurrentChange(): AppError {
  return new AppError('unavailable', 'The key is being changed concurrently; retry', { retryAfterSec: 1 });
}

function byCreation(a: KeyRecord, b: KeyRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Dependencies of createKeyRepository. */
export interface KeyRepositoryDeps {
  store: KeyRepositoryStore;
  keys: KeyRepositoryKeys;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
}

/** Key records on a SharedStore. */
export function createKeyRepository(deps: KeyRepositoryDeps): KeyRepository {
  return new StoreKeyRepository(deps);
}

class StoreKeyRepository implements KeyRepository {
  readonly #store: KeyRepositoryStore;
  readonly #keys: KeyRepositoryKeys;
  readonly #now: () => number;

  constructor(deps: KeyRepositoryDeps) {
    this.#store = deps.store;
    this.#keys = deps.keys;
    this.#now = deps.now ?? Date.now;
  }

  async create(settings: KeySettings): Promise<{ key: string; record: KeyRecord }> {
    const key = generateGatewayKey();
    const at = this.#now();
    const record: KeyRecord = {
      id: `key_${randomBytes(8).toString('hex')}`,
      ...settings,
      dailyUsdBudget: settings.dailyUsdBudget ?? null,
      monthlyUsdBudget: settings.monthlyUsdBudget ?? null,
      digest: keyDigest(key),
      hint: keyHint(key),
      createdAt: at,
      updatedAt: at,
    };
    const raw = JSON.stringify(record);
    if (!(await this.#store.set(this.#keys.keyById(record.id), raw, { onlyIfAbsent: true }))) {
      throw new AppError('internal', 'Key id collision');
    }
    await this.#store.sadd(this.#keys.keyIds(), record.id);
    await this.#store.set(this.#keys.keyByDigest(record.digest), raw);
    return { key, record };
  }

  async list(): Promise<KeyRecord[]> {
    const ids = (await this.#store.smembers(this.#keys.keyIds())).filter((id) => idKeyOf(this.#keys, id) !== undefined);
    if (ids.length === 0) return [];
    const raws = await this.#store.mget(ids.map((id) => this.#keys.keyById(id)));
    const records = raws.flatMap((raw) => (raw === null ? [] : [parseKeyRecord(raw)].filter((r) => r !== undefined)));
    return records.sort(byCreation);
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const k = idKeyOf(this.#keys, id);
    const raw = k === undefined ? null : await this.#store.get(k);
    return raw === null ? undefined : readable(raw);
  }

  async update(id: string, changes: Partial<KeySettings>): Promise<KeyRecord | undefined> {
    const k = idKeyOf(this.#keys, id);
    if (k === undefined) return undefined;
    const defined = Object.fromEntries(
      Object.entries(changes).filter(([, v]) => v !== undefined),
    ) as Partial<KeySettings>;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt += 1) {
      const raw = await this.#store.get(k);
      if (raw === null) return undefined;
      const current = readable(raw);
      const next: KeyRecord = { ...current, ...defined, updatedAt: Math.max(this.#now(), current.updatedAt) };
      const nextRaw = JSON.stringify(next);
      if (!(await this.#store.compareAndSet(k, raw, nextRaw))) continue;
      return (await this.#publishByDigest(current.digest, nextRaw)) ? next : undefined;
    }
    throw concurrentChange();
  }

  async revoke(id: string): Promise<boolean> {
    const k = idKeyOf(this.#keys, id);
    const raw = k === undefined ? null : await this.#store.get(k);
    if (k === undefined || raw === null) return false;
    const record = parseKeyRecord(raw);
    // Without a readable record the digest is unknown; refuse rather than report a revocation that did not happen.
    if (!record) throw new AppError('internal', 'A stored key record is unreadable; its digest entry cannot be found');
    await this.#store.del(this.#keys.keyByDigest(record.digest));
    await this.#store.del(k);
    await this.#store.srem(this.#keys.keyIds(), id);
    return true;
  }

  // Writes the new JSON under the digest unless the digest entry is gone (revoked): an edit never revives a key.
  async #publishByDigest(digest: string, nextRaw: string): Promise<boolean> {
    const digestKey = this.#keys.keyByDigest(digest);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt += 1) {
      const current = await this.#store.get(digestKey);
      if (current === null) return false;
      if (await this.#store.compareAndSet(digestKey, current, nextRaw)) return true;
    }
    throw concurrentChange();
  }
}
