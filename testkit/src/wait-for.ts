// The one polling wait of the tests, the demo and the bench: it asks again until the answer comes or a generous
// deadline passes, and then names what it waited for. Deadlines are limits, never measurements: nothing passes
// or fails on how soon the answer came.

/** How long and how often {@link waitFor} asks, and what it adds to its error. */
export interface WaitOptions {
  /** The limit (default 10 s): generous, so that only a wait that would never end fails. */
  timeoutMs?: number;
  /** The pause between two probes (default 20 ms). */
  intervalMs?: number;
  /** Appended to the error at the deadline: what was seen instead (a process's output, the last state). */
  detail?: () => string;
  /** Checked before each probe: a reason to give up at once (a process exited, the user pressed Ctrl-C). */
  stopIf?: () => string | undefined;
  /** A probe that throws counts as "not yet" (a server not listening yet); the last error is named at the deadline. */
  retryErrors?: boolean;
}

/** What the probe answers while the condition does not hold yet. */
type NotYet = false | undefined | null;

/**
 * Calls `probe` until it answers something other than false, undefined or null, and resolves with that answer.
 * A probe that throws ends the wait with its error (an assertion inside a probe fails the test at once), unless
 * `retryErrors` says a failure is only "not yet". Throws past the deadline (`timeoutMs`, or the options' one)
 * with `what` in the message.
 * @example
 * await waitFor('the node listed as available', async () => (await listNodes()).some((n) => n.state === 'available'));
 * const job = await waitFor('the usage job', () => queue.getJob(id), 30_000);
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  options: number | WaitOptions = {},
): Promise<Exclude<T, NotYet>> {
  const opts: WaitOptions = typeof options === 'number' ? { timeoutMs: options } : options;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const stop = opts.stopIf?.();
    if (stop !== undefined) throw new Error(`gave up waiting for ${what}: ${stop}${withDetail(opts)}`);
    let answer: T | undefined;
    try {
      answer = await probe();
      lastError = undefined;
    } catch (err) {
      if (!opts.retryErrors) throw err;
      lastError = err;
    }
    if (answer !== false && answer !== undefined && answer !== null) return answer as Exclude<T, NotYet>;
    if (Date.now() > deadline) {
      const cause =
        lastError === undefined
          ? ''
          : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}${withDetail(opts)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 20));
  }
}

function withDetail(opts: WaitOptions): string {
  const detail = opts.detail?.();
  return detail === undefined || detail === '' ? '' : `\n${detail}`;
}
