import { randomUUID } from 'node:crypto';
import { sessionKeyOf } from './session-key.js';

const KEY_ID = 'key_1';
const SESSION = '7f1c2a44-3b7e-4a9e-9a55-0d2f4bfae1c1';
const HEX64 = 'ab'.repeat(32);

function currentUserId(sessionId: string): string {
  return JSON.stringify({ device_id: HEX64, account_uuid: randomUUID(), session_id: sessionId });
}

const system = [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }];
const messages = [
  { role: 'user', content: [{ type: 'text', text: 'fix the bug in main.ts' }] },
  { role: 'assistant', content: 'Looking.' },
  { role: 'user', content: 'thanks' },
];

describe('sessionKeyOf', () => {
  it('uses the x-claude-code-session-id header first', () => {
    const withHeader = sessionKeyOf(
      KEY_ID,
      { 'x-claude-code-session-id': SESSION },
      { metadata: { user_id: currentUserId(randomUUID()) } },
    );
    expect(withHeader.source).toBe('header');
    expect(withHeader.key).toMatch(/^[0-9a-f]{64}$/);
    // Same header, different body: same conversation.
    expect(sessionKeyOf(KEY_ID, { 'x-claude-code-session-id': SESSION }, { system, messages }).key).toBe(
      withHeader.key,
    );
    expect(sessionKeyOf(KEY_ID, { 'x-claude-code-session-id': randomUUID() }, {}).key).not.toBe(withHeader.key);
  });

  it('reads session_id from the JSON string in metadata.user_id (current Claude Code)', () => {
    const key = sessionKeyOf(KEY_ID, {}, { system, messages, metadata: { user_id: currentUserId(SESSION) } });
    expect(key.source).toBe('metadata');
    // The header and the metadata carry the same id, so a client sending either lands on the same node.
    expect(key.key).toBe(sessionKeyOf(KEY_ID, { 'x-claude-code-session-id': SESSION }, {}).key);
    expect(sessionKeyOf(KEY_ID, {}, { metadata: { user_id: currentUserId(randomUUID()) } }).key).not.toBe(key.key);
  });

  it('reads the session from the older user_<hex>_account_<uuid>_session_<uuid> form', () => {
    const legacy = { user_id: `user_${HEX64}_account_${randomUUID()}_session_${SESSION}` };
    const key = sessionKeyOf(KEY_ID, {}, { metadata: legacy });
    expect(key.source).toBe('metadata');
    expect(key.key).toBe(sessionKeyOf(KEY_ID, {}, { metadata: { user_id: currentUserId(SESSION) } }).key);
  });

  it.each([
    ['no session in the JSON', { user_id: JSON.stringify({ device_id: HEX64 }) }],
    ['broken JSON', { user_id: '{"session_id":' }],
    ['a plain user id', { user_id: 'alice' }],
    ['a non-string user id', { user_id: 42 }],
  ])('falls back to the prompt when metadata has %s', (_label, metadata) => {
    expect(sessionKeyOf(KEY_ID, {}, { system, messages, metadata }).source).toBe('prompt');
  });

  it('ignores an empty session header', () => {
    expect(sessionKeyOf(KEY_ID, { 'x-claude-code-session-id': '  ' }, { system, messages }).source).toBe('prompt');
  });

  describe('prompt fallback', () => {
    const base = sessionKeyOf(KEY_ID, {}, { system, messages });

    it('gives the same key for the same system prompt and first user message', () => {
      expect(base.source).toBe('prompt');
      // A later turn of the same conversation (more messages, a moved cache breakpoint) keeps the key.
      const later = [...messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'more' }];
      const movedBreakpoint = [{ type: 'text', text: 'You are Claude Code.' }];
      expect(sessionKeyOf(KEY_ID, {}, { system: movedBreakpoint, messages: later }).key).toBe(base.key);
      expect(
        sessionKeyOf(
          KEY_ID,
          {},
          { system: 'You are Claude Code.', messages: [{ role: 'user', content: 'fix the bug in main.ts' }] },
        ).key,
      ).toBe(base.key);
    });

    it('gives a different key for a different first user message or system prompt', () => {
      const otherFirst = [{ role: 'user', content: 'write a README' }, ...messages.slice(1)];
      expect(sessionKeyOf(KEY_ID, {}, { system, messages: otherFirst }).key).not.toBe(base.key);
      expect(sessionKeyOf(KEY_ID, {}, { system: 'You are a poet.', messages }).key).not.toBe(base.key);
    });

    it('does not confuse text moved between the system prompt and the first message', () => {
      const a = sessionKeyOf(KEY_ID, {}, { system: 'ab', messages: [{ role: 'user', content: 'c' }] });
      const b = sessionKeyOf(KEY_ID, {}, { system: 'a', messages: [{ role: 'user', content: 'bc' }] });
      expect(a.key).not.toBe(b.key);
    });

    it('gives a different key for a different API key', () => {
      expect(sessionKeyOf('key_2', {}, { system, messages }).key).not.toBe(base.key);
    });
  });

  it('gives a different key for the same session id under a different API key', () => {
    const headers = { 'x-claude-code-session-id': SESSION };
    expect(sessionKeyOf('key_2', headers, {}).key).not.toBe(sessionKeyOf(KEY_ID, headers, {}).key);
  });
});
