import { createKnownHashes } from './known-hashes.js';

const h = (n: number) => n.toString(16).padStart(64, '0');
// An epoch-like start: the clock is injected, never read.
const T0 = 1_700_000_000_000;

function clocked(opts: { maxEntries?: number; ttlMs: number }) {
  let t = T0;
  const known = createKnownHashes({ ...opts, now: () => t });
  return { known, at: (ms: number) => (t = T0 + ms) };
}

test('a hash is known once added, until its TTL passes', () => {
  const { known, at } = clocked({ ttlMs: 1_000 });
  expect(known.has(h(1))).toBe(false);
  known.add(h(1));
  at(1_000);
  expect(known.has(h(1))).toBe(true);
  at(1_001);
  expect(known.has(h(1))).toBe(false);
  // An expired entry is dropped, not kept around.
  expect(known.size()).toBe(0);
});

test('asking does not extend the TTL: only a fresh confirmation from Redis does', () => {
  const { known, at } = clocked({ ttlMs: 1_000 });
  known.add(h(1));
  known.add(h(2));
  at(900);
  expect(known.has(h(1))).toBe(true);
  known.add(h(2));
  at(1_100);
  expect(known.has(h(1))).toBe(false);
  expect(known.has(h(2))).toBe(true);
});

test('the size cap drops the least recently used hash', () => {
  const { known, at } = clocked({ maxEntries: 3, ttlMs: 60_000 });
  for (const n of [1, 2, 3]) known.add(h(n));
  // 1 was used last: 2 is now the oldest.
  at(1);
  expect(known.has(h(1))).toBe(true);
  at(2);
  known.add(h(4));
  expect(known.size()).toBe(3);
  at(3);
  expect([1, 2, 3, 4].map((n) => known.has(h(n)))).toEqual([true, false, true, true]);
});

test('stays at its cap however many hashes pass through', () => {
  const { known, at } = clocked({ maxEntries: 100, ttlMs: 60_000 });
  for (let n = 0; n < 10_000; n++) {
    at(n);
    known.add(h(n));
  }
  at(10_000);
  expect(known.size()).toBe(100);
  expect(known.has(h(9_999))).toBe(true);
  expect(known.has(h(9_899))).toBe(false);
});
