import type { Redis } from 'ioredis';

/** Every key under a test's prefix (SCAN, never KEYS). */
export async function scanKeys(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

/** Deletes every key under a test's prefix; tests clean up by prefix, never with FLUSH*. */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  const found = await scanKeys(client, prefix);
  for (let i = 0; i < found.length; i += 500) await client.del(...found.slice(i, i + 500));
}
