// Makes sure the test run has a Redis: REDIS_URL if set, else 127.0.0.1:6379 if it answers,
// else a throwaway redis-server from PATH on a free port (stopped in global-teardown).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function answersPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) return;
  if (await answersPing('127.0.0.1', 6379)) {
    process.env.REDIS_URL = 'redis://127.0.0.1:6379';
    return;
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      'No Redis for the tests: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian: apt-get install -y redis-server).',
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sy-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
    detached: false,
  });
  for (let i = 0; i < 100 && !(await answersPing('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 50));
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  (globalThis as { __syRedis?: typeof child }).__syRedis = child;
}
