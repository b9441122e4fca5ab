// The fleet watcher against scripted reports and its own clock: needs_login and limited raised as the reports
// change, node_lost only for a node that left unannounced and stayed away past the grace.
import { createNullLogger, type AccountState, type AlertEvent, type NodeReport } from '@switchyard/shared';
import { createFleetWatcher } from './fleet-watcher.js';

const T0 = 1_765_000_000_000;

function report(nodeId: string, state: Partial<AccountState> = {}, heartbeatAt = T0): NodeReport {
  return {
    nodeId,
    accountKind: 'oauth',
    state: { state: 'available', updatedAt: T0, ...state },
    inFlight: 0,
    version: '0.1.0',
    gitSha: 'test',
    startedAt: T0,
    heartbeatAt,
  };
}

function setup(graceMs = 30_000, connectedElsewhere?: (nodeId: string) => Promise<boolean>) {
  let clock = T0;
  let views: { record: NodeReport; adminDrained: boolean }[] = [];
  const raised: AlertEvent[] = [];
  const watcher = createFleetWatcher({
    nodes: () => views,
    sink: { emit: (e) => raised.push(e) },
    log: createNullLogger(),
    graceMs,
    now: () => clock,
    ...(connectedElsewhere === undefined ? {} : { connectedElsewhere }),
  });
  return {
    raised,
    watcher,
    show(...reports: (NodeReport | { record: NodeReport; adminDrained: boolean })[]) {
      views = reports.map((r) => ('record' in r ? r : { record: r, adminDrained: false }));
      watcher.check();
    },
    advance(ms: number) {
      clock += ms;
      watcher.check();
    },
  };
}

describe('fleet watcher', () => {
  it('raises account_needs_login once when an account enters needs_login, by the time it did', () => {
    const t = setup();
    t.show(report('node-a'));
    expect(t.raised).toEqual([]);
    const needs = report('node-a', { state: 'needs_login', updatedAt: T0 + 5_000 }, T0 + 5_000);
    t.show(needs);
    t.show(report('node-a', { state: 'needs_login', updatedAt: T0 + 5_000 }, T0 + 10_000));
    expect(t.raised).toEqual([
      expect.objectContaining({
        id: 'account_needs_login:node-a:1765000005000',
        type: 'account_needs_login',
        nodeId: 'node-a',
        at: T0,
      }),
    ]);
    expect(t.raised[0]?.message).toMatch(/log in again/);
  });

  it('raises account_limited per limitedUntil: again for a new reset, not for a repeated report', () => {
    const t = setup();
    t.show(report('node-a'));
    t.show(
      report('node-a', { state: 'limited', limitedUntil: T0 + 3_600_000, fiveHour: { utilization: 1.01 } }, T0 + 1),
    );
    t.show(
      report('node-a', { state: 'limited', limitedUntil: T0 + 3_600_000, fiveHour: { utilization: 1.01 } }, T0 + 2),
    );
    t.show(report('node-a', { state: 'available' }, T0 + 3));
    t.show(report('node-a', { state: 'limited', limitedUntil: T0 + 7_200_000 }, T0 + 4));
    expect(t.raised.map((e) => e.id)).toEqual([
      `account_limited:node-a:${T0 + 3_600_000}`,
      `account_limited:node-a:${T0 + 7_200_000}`,
    ]);
    expect(t.raised[0]?.data).toMatchObject({ limitedUntil: T0 + 3_600_000, fiveHourUtilization: 1.01 });
  });

  it('a limited state without a reset time raises nothing (there is no "until" to name)', () => {
    const t = setup();
    t.show(report('node-a', { state: 'limited' }));
    expect(t.raised).toEqual([]);
  });

  it('raises node_lost for a node gone past the grace, by its last heartbeat; once', () => {
    const t = setup(30_000);
    t.show(report('node-a', {}, T0 + 100), report('node-b'));
    t.show(report('node-b'));
    t.advance(29_999);
    expect(t.raised).toEqual([]);
    t.advance(1);
    t.advance(60_000);
    expect(t.raised).toEqual([
      expect.objectContaining({ id: `node_lost:node-a:${T0 + 100}`, type: 'node_lost', nodeId: 'node-a' }),
    ]);
    expect(t.raised[0]?.data).toMatchObject({ lastHeartbeatAt: T0 + 100, goneSince: T0 });
  });

  it('a node back within the grace is no loss', () => {
    const t = setup(30_000);
    t.show(report('node-a'));
    t.show();
    t.advance(20_000);
    t.show(report('node-a', {}, T0 + 20_000));
    t.advance(60_000);
    expect(t.raised).toEqual([]);
  });

  it('a node gone from this replica but holding its lease through another is not lost; one whose lease cannot be read is', async () => {
    const asked: string[] = [];
    const t = setup(1_000, (nodeId) => {
      asked.push(nodeId);
      return nodeId === 'node-a' ? Promise.resolve(true) : Promise.reject(new Error('redis away'));
    });
    t.show(report('node-a'), report('node-b'));
    t.show();
    t.advance(1_000);
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual(['node-a', 'node-b']);
    expect(t.raised.map((e) => e.id)).toEqual([`node_lost:node-b:${T0}`]);
  });

  it('a node that drained itself, or that an admin drained, leaves without an alert', () => {
    const t = setup(1_000);
    t.show(report('node-a', { state: 'draining' }), { record: report('node-b'), adminDrained: true });
    t.show();
    t.advance(10_000);
    expect(t.raised).toEqual([]);
  });

  it('every event it raises is a valid alert (the sink would refuse anything else)', async () => {
    const { AlertEventSchema } = await import('@switchyard/shared');
    const t = setup(1);
    t.show(report('node a/with odd id', { state: 'needs_login' }));
    t.show(report('node a/with odd id', { state: 'limited', limitedUntil: T0 + 1 }));
    t.show();
    t.advance(2);
    expect(t.raised.map((e) => e.type)).toEqual(['account_needs_login', 'account_limited', 'node_lost']);
    for (const e of t.raised) expect(AlertEventSchema.safeParse(e).success).toBe(true);
  });
});
