import { createKnownHashes } from './known-hashes.js';

const h = (n: number) => n.toString(16).padStart(64, '0');

test('a hash is known once added, until its TTL passes', () => {
  const known = createKnownHashes({ ttlMs: 1_000 });
  expect(known.has(h(1), 0)).toBe(false);
  known.add(h(1), 0);
  expect(known.has(h(1), 999)).toBe(true);
  expect(known.has(h(1), 1_000)).toBe(false);
  // An expired entry is dropped, not kept around.
  expect(known.size()).toBe(0);
});

test('asking does not extend the TTL: only a fresh confirmation from Redis does', () => {
  const known = createKnownHashes({ ttlMs: 1_000 });
  known.add(h(1), 0);
  expect(known.has(h(1), 900)).toBe(true);
  expect(known.has(h(1), 1_100)).toBe(false);
  known.add(h(2), 0);
  known.add(h(2), 900);
  expect(known.has(h(2), 1_100)).toBe(true);
});

test('the size cap drops the least recently used hash', () => {
  const known = createKnownHashes({ maxEntries: 3, ttlMs: 60_000 });
  for (const n of [1, 2, 3]) known.add(h(n), 0);
  // 1 was used last: 2 is now the oldest.
  expect(known.has(h(1), 1)).toBe(true);
  known.add(h(4), 2);
  expect(known.size()).toBe(3);
  expect([1, 2, 3, 4].map((n) => known.has(h(n), 3))).toEqual([true, false, true, true]);
});

test('stays at its cap however many hashes pass through', () => {
  const known = createKnownHashes({ maxEntries: 100, ttlMs: 60_000 });
  for (let n = 0; n < 10_000; n++) known.add(h(n), n);
  expect(known.size()).toBe(100);
  expect(known.has(h(9_999), 10_000)).toBe(true);
  expect(known.has(h(9_899), 10_000)).toBe(false);
});
