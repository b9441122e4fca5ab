#!/usr/bin/env node
// The watchdog of the bench and the demo. Reads lines on stdin: "+<pid>" / "-<pid>" (processes its parent started and
// stopped), "keys <redis-url> <prefix>" (the parent's Redis keyspace), "dir <path>" (its scratch dir),
// "done" (the parent cleaned up). When stdin ends without "done" — the parent died without cleaning up
// (SIGKILL, a crash) — it sends SIGTERM to every pid still listed, SIGKILL after 3 s, then deletes the
// keys under the prefix and the scratch dir.
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';

const pids = new Set();
let keys;
let dir;
let done = false;

function signal(sig) {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      pids.delete(pid);
    }
  }
}

async function deleteKeys() {
  if (!keys) return;
  const redis = new Redis(keys.url, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${keys.prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length > 0) await redis.del(...batch);
  } while (cursor !== '0');
  redis.disconnect();
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [word, url, prefix] = line.split(' ');
  if (word === 'done') done = true;
  else if (word === 'keys' && url && prefix) keys = { url, prefix };
  else if (word === 'dir' && url) dir = url;
  else if (word?.startsWith('+')) pids.add(Number(word.slice(1)));
  else if (word?.startsWith('-')) pids.delete(Number(word.slice(1)));
});
lines.on('close', () => {
  if (done) process.exit(0);
  signal('SIGTERM');
  setTimeout(() => {
    signal('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
    deleteKeys().finally(() => process.exit(0));
  }, 3_000);
});
