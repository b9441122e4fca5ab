import type { PriceBook } from '@switchyard/shared';
import { cacheWriteOf, parseBody } from '../http/parse-body.js';
import { requestReservation } from './request-reservation.js';

/** A price book with one model: $3/M input, $3.75/M 5-minute writes, $6/M 1-hour writes, $15/M output. */
const BOOK: Pick<PriceBook, 'reservationMicros'> = {
  reservationMicros(model, bodyBytes, maxTokens, cacheWrite) {
    if (model !== 'claude-test') return 0;
    const input = cacheWrite === '1h' ? 6 : cacheWrite === '5m' ? 3.75 : 3;
    return bodyBytes * input + maxTokens * 15;
  },
};

function reservationOf(body: string) {
  const bytes = Buffer.from(body);
  const parsed = parseBody(bytes);
  return requestReservation(BOOK, {
    requestId: 'req_1',
    bodyBytes: bytes.length,
    model: parsed.model,
    maxTokens: parsed.maxTokens,
    cacheWrite: cacheWriteOf(bytes, parsed),
  });
}

describe('what a request reserves', () => {
  it('holds its body bytes plus max_tokens, priced at the input and output rates', () => {
    const body = JSON.stringify({
      model: 'claude-test',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(reservationOf(body)).toEqual({
      requestId: 'req_1',
      tokens: body.length + 100,
      micros: body.length * 3 + 1_500,
    });
  });

  it('prices the body at the dearest cache write it asks for', () => {
    const m = (control: object) =>
      JSON.stringify({
        model: 'claude-test',
        max_tokens: 1,
        system: [{ type: 'text', text: 'x', cache_control: control }],
        messages: [],
      });
    const five = m({ type: 'ephemeral' });
    const hour = m({ type: 'ephemeral', ttl: '1h' });
    expect(reservationOf(five).micros).toBe(Math.ceil(five.length * 3.75 + 15));
    expect(reservationOf(hour).micros).toBe(hour.length * 6 + 15);
  });

  it('holds the body only without a usable max_tokens, and no dollars for a model without a price', () => {
    for (const maxTokens of [undefined, 0, -5, 1.5, '100']) {
      const body = JSON.stringify({ model: 'claude-test', max_tokens: maxTokens, messages: [] });
      expect(reservationOf(body)).toEqual({ requestId: 'req_1', tokens: body.length, micros: body.length * 3 });
    }
    const unpriced = JSON.stringify({ model: 'claude-private', max_tokens: 10, messages: [] });
    expect(reservationOf(unpriced)).toEqual({ requestId: 'req_1', tokens: unpriced.length + 10, micros: 0 });
  });
});

describe('cacheWriteOf', () => {
  const of = (body: string) => cacheWriteOf(Buffer.from(body), JSON.parse(body));

  it('finds cache_control by a byte search, and 1h beside it', () => {
    expect(of('{"messages":[{"role":"user","content":"no caching here"}]}')).toBe('none');
    expect(of('{"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}')).toBe('5m');
    expect(of('{"system":[{"type":"text","text":"s","cache_control": {"type":"ephemeral","ttl": "1h"}}]}')).toBe('1h');
  });

  it('walks the parsed body when escapes could hide the key from the byte search', () => {
    expect(
      of('{"system":[{"type":"text","text":"s","cache\\u005fcontrol":{"type":"ephemeral","ttl":"1\\u0068"}}]}'),
    ).toBe('1h');
    expect(of('{"tools":[{"name":"t","cache\\u005fcontrol":{"type":"ephemeral"}}]}')).toBe('5m');
    expect(of('{"messages":[{"role":"user","content":"caf\\u00e9"}]}')).toBe('none');
  });
});
