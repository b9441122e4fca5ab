import type { ChildProcess } from 'node:child_process';

export default function globalTeardown(): void {
  (globalThis as { __syRedis?: ChildProcess }).__syRedis?.kill('SIGTERM');
}
