import { JobCatalog, parseJobPayload, readJobPayload, type JobData, type JobHandlers } from './catalog.js';

const valid = {
  requestId: 'req_1',
  at: Date.UTC(2026, 10, 22),
  keyId: 'key_1',
  nodeId: 'node-a',
  model: 'claude-sonnet-4-6',
  stream: true,
  status: 200,
  durationMs: 12.5,
  usage: {
    inputTokens: 10,
    outputTokens: 5,
    cacheCreationInputTokens: 0,
    cacheCreation5mInputTokens: 0,
    cacheCreation1hInputTokens: 0,
    cacheReadInputTokens: 3,
  },
  ttfbMs: 3.2,
  aborted: false,
  brokeMidStream: false,
  stopReason: 'end_turn',
  endedCleanly: true,
  prompt: { hashes: ['a'.repeat(64)], blocks: [{ hash: 'a'.repeat(64), block: { type: 'text', text: 'hi' } }] },
  output: { kind: 'sse' as const, events: [{ event: 'content_block_delta', data: '{}' }] },
};

describe('job catalog', () => {
  it('accepts a well-formed usage job and rejects a malformed one naming the field', () => {
    // A job from a gateway older than the account kind, stickiness and route reads as neither, and as a Messages request.
    expect(parseJobPayload('usage', valid)).toEqual({ ...valid, accountKind: null, sticky: 'none', route: 'messages' });
    expect(
      parseJobPayload('usage', { ...valid, accountKind: 'oauth', sticky: 'moved', route: 'chat_completions' }),
    ).toMatchObject({ accountKind: 'oauth', sticky: 'moved', route: 'chat_completions' });
    expect(() => parseJobPayload('usage', { ...valid, sticky: 'elsewhere' })).toThrow(/sticky/);
    // A route this worker does not know (a newer gateway's) is still counted, as a Messages request: never lost.
    expect(parseJobPayload('usage', { ...valid, route: 'responses' })).toMatchObject({ route: 'messages' });
    // The request's traceparent (tracing on) is kept; a malformed one is dropped, never a reason to lose the job.
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseJobPayload('usage', { ...valid, traceparent })).toMatchObject({ traceparent });
    expect(parseJobPayload('usage', { ...valid, traceparent: 'x-y-z' }).traceparent).toBeUndefined();
    expect(() => parseJobPayload('usage', { ...valid, status: 'ok' })).toThrow(/status/);
    expect(() => parseJobPayload('usage', { ...valid, prompt: { hashes: ['not-a-digest'], blocks: [] } })).toThrow(
      /hashes/,
    );
  });

  it('keeps no conversation text longer than counting needs: completed jobs go at once, failed ones after 24 h; retries back off', () => {
    const d = JobCatalog.usage.defaults;
    expect(d.attempts).toBeGreaterThan(1);
    expect(d.backoff.type).toBe('exponential');
    expect(d.removeOnComplete).toBe(true);
    expect(d.removeOnFail).toEqual({ age: 86_400 });
  });

  it('types a handler per job', async () => {
    const seen: string[] = [];
    const handlers: JobHandlers = {
      usage: (p) => {
        seen.push(p.requestId);
        return Promise.resolve();
      },
      alert: (p) => {
        seen.push(p.id);
        return Promise.resolve();
      },
      alertDelivery: (p) => {
        seen.push(p.url);
        return Promise.resolve();
      },
    };
    await handlers.usage(parseJobPayload('usage', valid));
    expect(seen).toEqual(['req_1']);
  });

  it("reads a queued job's data into its payload, defaults filled in, as a worker takes it", () => {
    // What an older gateway queued: no account kind, stickiness or route (the queue's type allows that).
    const queued: JobData<'usage'> = valid;
    expect(readJobPayload('usage', queued)).toEqual({
      ok: true,
      payload: { ...valid, accountKind: null, sticky: 'none', route: 'messages' },
    });
  });

  it('names what is wrong with an invalid job by path and code, never by value, and at most five things', () => {
    const secret = 'the prompt text of a user';
    const read = readJobPayload('usage', { ...valid, model: 42, stopReason: 7, status: secret });
    expect(read).toEqual({
      ok: false,
      problems: 'model: invalid_type; status: invalid_type; stopReason: invalid_type',
    });
    expect(JSON.stringify(read)).not.toContain(secret);
    const junk = readJobPayload('alertDelivery', 'not an object');
    expect(junk).toEqual({ ok: false, problems: '(payload): invalid_type' });
    const many = readJobPayload('usage', {});
    expect(many.ok ? [] : many.problems.split('; ')).toHaveLength(5);
  });
});
