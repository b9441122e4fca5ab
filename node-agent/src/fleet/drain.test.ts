import { createDrainGate } from './drain.js';

describe('drain gate', () => {
  test('admits and counts requests while open', () => {
    const gate = createDrainGate();
    expect([gate.tryEnter(), gate.tryEnter()]).toEqual([true, true]);
    expect(gate.inFlight).toBe(2);
    gate.leave();
    expect(gate.inFlight).toBe(1);
    expect(gate.draining).toBe(false);
  });

  test('with nothing in flight, drain resolves at once and new requests are refused', async () => {
    const gate = createDrainGate();
    await expect(gate.drain(60_000)).resolves.toEqual({ timedOut: false });
    expect(gate.draining).toBe(true);
    expect(gate.tryEnter()).toBe(false);
    expect(gate.inFlight).toBe(0);
  });

  test('drain waits for the running requests to finish, refusing new ones meanwhile', async () => {
    const gate = createDrainGate();
    gate.tryEnter();
    gate.tryEnter();
    let settled: { timedOut: boolean } | undefined;
    const drained = gate.drain(60_000).then((r) => (settled = r));
    expect(gate.tryEnter()).toBe(false);
    gate.leave();
    await new Promise((r) => setImmediate(r));
    expect(settled).toBeUndefined();
    gate.leave();
    await drained;
    expect(settled).toEqual({ timedOut: false });
  });

  test('drain gives up after the timeout when a request never ends', async () => {
    const gate = createDrainGate();
    gate.tryEnter();
    const started = Date.now();
    await expect(gate.drain(50)).resolves.toEqual({ timedOut: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(gate.inFlight).toBe(1);
    // The late finisher after a timed-out drain changes nothing.
    gate.leave();
    expect(gate.inFlight).toBe(0);
  });

  test('an extra leave never lets the count go below zero (drain would end with work running)', async () => {
    const gate = createDrainGate();
    gate.leave();
    gate.tryEnter();
    expect(gate.inFlight).toBe(1);
    await expect(gate.drain(50)).resolves.toEqual({ timedOut: true });
  });

  test('two drains (SIGTERM twice) both resolve when the last request ends', async () => {
    const gate = createDrainGate();
    gate.tryEnter();
    const first = gate.drain(60_000);
    const second = gate.drain(60_000);
    gate.leave();
    await expect(Promise.all([first, second])).resolves.toEqual([{ timedOut: false }, { timedOut: false }]);
  });
});
