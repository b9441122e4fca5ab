// The only place test helpers read the environment (set by test/global-setup.ts).
import { randomBytes } from 'node:crypto';

/** The Redis the test run uses: REDIS_URL, set by the jest global setup. */
export function testRedisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A fresh key prefix for one test file or case, so tests never see each other's keys. */
export function uniquePrefix(label = 't'): string {
  return `sytest:${label}:${randomBytes(4).toString('hex')}:`;
}

/** The minimal environment a spawned service gets besides its own variables (PATH to find node and tools). */
export function baseChildEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
}
