// The in-memory twin measures TTLs on an injected clock, so unit tests can move time without sleeping.
import { createMemoryStore } from './memory-store.js';

function clockedStore() {
  let t = 1_000_000;
  const store = createMemoryStore({ now: () => t });
  return { store, advance: (ms: number) => (t += ms) };
}

describe('createMemoryStore with an injected clock', () => {
  it('keeps a key until exactly its TTL has passed on that clock', async () => {
    const { store, advance } = clockedStore();
    await store.set('k', 'v', { ttlMs: 1_000 });
    advance(999);
    await expect(store.get('k')).resolves.toBe('v');
    advance(1);
    await expect(store.get('k')).resolves.toBeNull();
    await expect(store.set('k', 'again', { onlyIfAbsent: true })).resolves.toBe(true);
  });

  it('starts a fresh rate window after the first one expires', async () => {
    const { store, advance } = clockedStore();
    await store.incr('rl', { ttlMs: 60_000 });
    advance(59_000);
    await expect(store.incr('rl', { ttlMs: 60_000 })).resolves.toBe(2);
    advance(1_000);
    await expect(store.incr('rl', { ttlMs: 60_000 })).resolves.toBe(1);
  });

  it('frees an expired lock and re-arms an extended one from the current time', async () => {
    const { store, advance } = clockedStore();
    const lock = await store.acquireLock('lock', 1_000);
    advance(900);
    await expect(lock!.extend(1_000)).resolves.toBe(true);
    advance(900);
    await expect(store.acquireLock('lock', 1_000)).resolves.toBeNull();
    advance(100);
    await expect(store.acquireLock('lock', 1_000)).resolves.not.toBeNull();
    await expect(lock!.release()).resolves.toBe(false);
  });
});
