import { DeadlineError, withDeadline } from './deadline.js';

describe('withDeadline', () => {
  it('settles like the work when it is in time', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, 'x')).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('boom')), 1_000, 'x')).rejects.toThrow('boom');
  });

  it('rejects with a DeadlineError naming the work once the deadline passes', async () => {
    const never = new Promise<never>(() => undefined);
    const started = performance.now();
    const err = (await withDeadline(never, 30, 'key lookup').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(DeadlineError);
    expect(err.message).toBe('key lookup: no answer within 30 ms');
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
