// The holder's own transitions (login, shutdown, lapse); header-driven ones run against the fake upstream in the .int test.
import { PassThrough } from 'node:stream';
import { createLogger } from '@switchyard/shared';
import type { AccountState } from '@switchyard/shared';
import { createAccountStateHolder } from './account-state.js';

const T0 = 1_750_000_000_000;

function captureLog() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n'))
      if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { log: createLogger({ service: 'test', level: 'debug', stream }), lines };
}

function setup(initial?: AccountState) {
  let clock = T0;
  const { log, lines } = captureLog();
  const holder = createAccountStateHolder({ log, now: () => clock, ...(initial ? { initial } : {}) });
  const changes: [string, string][] = [];
  holder.onChange((next, prev) => changes.push([prev.state, next.state]));
  return { holder, lines, changes, advance: (ms: number) => (clock += ms) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('account state holder: login and shutdown', () => {
  test('a fresh account is available', () => {
    const { holder } = setup();
    expect(holder.current()).toEqual({ state: 'available', updatedAt: T0 });
  });

  test('needs_login and back: each transition announced and logged once', async () => {
    const { holder, lines, changes } = setup();
    holder.setNeedsLogin();
    holder.setNeedsLogin();
    expect(holder.current().state).toBe('needs_login');
    holder.setOk();
    holder.setOk();
    expect(holder.current().state).toBe('available');
    await flush();
    expect(changes).toEqual([
      ['available', 'needs_login'],
      ['needs_login', 'available'],
    ]);
    expect(lines.map((l) => [l.level, l.message, l.from, l.to])).toEqual([
      ['warn', 'account state changed', 'available', 'needs_login'],
      ['info', 'account state changed', 'needs_login', 'available'],
    ]);
  });

  test('back from needs_login while a window limit still holds: limited, not available', () => {
    const { holder } = setup({ state: 'needs_login', limitedUntil: T0 + 60_000, updatedAt: T0 });
    holder.setOk();
    expect(holder.current()).toMatchObject({ state: 'limited', limitedUntil: T0 + 60_000 });
  });

  test('draining is final: a later login failure or recovery does not hide it', () => {
    const { holder, changes } = setup();
    holder.setDraining();
    holder.setNeedsLogin();
    holder.setOk();
    expect(holder.current().state).toBe('draining');
    expect(changes).toEqual([['available', 'draining']]);
  });

  test('a limit lifts by itself when its time passes, and that is announced', async () => {
    const { holder, lines, changes, advance } = setup({
      state: 'limited',
      limitedUntil: T0 + 60_000,
      limitedFamilies: { opus: T0 + 120_000 },
      updatedAt: T0,
    });
    advance(59_999);
    expect(holder.current().state).toBe('limited');
    advance(1);
    expect(holder.current()).toMatchObject({ state: 'available', limitedFamilies: { opus: T0 + 120_000 } });
    expect(holder.current().limitedUntil).toBeUndefined();
    advance(60_000);
    expect(holder.current().limitedFamilies).toBeUndefined();
    await flush();
    expect(changes).toEqual([
      ['limited', 'available'],
      ['available', 'available'],
    ]);
    expect(lines).toHaveLength(2);
  });

  test('a throwing listener is logged and does not stop the others', async () => {
    const { holder, changes, lines } = setup();
    holder.onChange(() => {
      throw new Error('boom');
    });
    const after: string[] = [];
    holder.onChange((next) => after.push(next.state));
    holder.setDraining();
    await flush();
    expect(changes).toEqual([['available', 'draining']]);
    expect(after).toEqual(['draining']);
    expect(lines.some((l) => l.message === 'account state listener failed')).toBe(true);
  });

  test('unsubscribe stops the announcements', () => {
    const { holder } = setup();
    const seen: string[] = [];
    const off = holder.onChange((next) => seen.push(next.state));
    holder.setNeedsLogin();
    off();
    holder.setOk();
    expect(seen).toEqual(['needs_login']);
  });
});
