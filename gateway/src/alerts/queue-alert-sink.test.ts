// The queue sink with a queue twin: emit() returns before the add settles, an add Redis refused is kept and
// added on a later round, past the bound the oldest are dropped, and an invalid event never reaches the queue.
import { createNullLogger, type AlertEvent } from '@switchyard/shared';
import type { AlertQueue } from './queue-alert-sink.js';
import { createQueueAlertSink } from './queue-alert-sink.js';

function event(n: number): AlertEvent {
  return {
    id: `node_lost:node-${n}:1`,
    type: 'node_lost',
    at: 1,
    message: `node ${n} lost`,
    nodeId: `node-${n}`,
    data: {},
  };
}

/** A queue whose adds fail while `up` is false, and never settle while `hang` is true. */
function queueTwin() {
  const state = {
    up: true,
    hang: false,
    added: [] as { name: string; data: AlertEvent; jobId: string; attempts: number }[],
  };
  const queue: AlertQueue = {
    add(name, data, opts) {
      if (state.hang) return new Promise(() => undefined);
      if (!state.up) return Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      state.added.push({ name, data, jobId: opts.jobId, attempts: opts.attempts });
      return Promise.resolve();
    },
  };
  return { state, queue };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('queue alert sink', () => {
  it('adds each event as an alerts job under its id (":" is not allowed in BullMQ ids) with the catalog defaults', async () => {
    const { state, queue } = queueTwin();
    const sink = createQueueAlertSink({ queue, log: createNullLogger() });
    sink.emit(event(1));
    await settle();
    expect(state.added).toEqual([{ name: 'alert', data: event(1), jobId: 'node_lost|node-1|1', attempts: 10 }]);
  });

  it('returns at once while the queue hangs', () => {
    const { state, queue } = queueTwin();
    state.hang = true;
    const sink = createQueueAlertSink({ queue, log: createNullLogger() });
    sink.emit(event(1));
    expect(sink.pending()).toBe(1);
  });

  it('keeps what Redis refused and adds it once Redis takes it again; past the bound the oldest are dropped', async () => {
    const { state, queue } = queueTwin();
    state.up = false;
    const sink = createQueueAlertSink({ queue, log: createNullLogger(), bufferMax: 2 });
    for (const n of [1, 2, 3]) sink.emit(event(n));
    await settle();
    expect(sink.pending()).toBe(2);
    state.up = true;
    await sink.stop();
    expect(state.added.map((a) => a.data.id)).toEqual(['node_lost:node-2:1', 'node_lost:node-3:1']);
    expect(sink.pending()).toBe(0);
  });

  it('never enqueues an invalid event', async () => {
    const { state, queue } = queueTwin();
    const sink = createQueueAlertSink({ queue, log: createNullLogger() });
    sink.emit({ ...event(1), id: 'has spaces in it' });
    await settle();
    expect(state.added).toEqual([]);
  });
});
