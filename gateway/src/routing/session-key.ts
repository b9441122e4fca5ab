// A conversation's identity, so its requests stay on one account (prompt caches live per account).
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { SessionBody, SessionKey } from './types.js';

const SESSION_HEADER = 'x-claude-code-session-id';
// A session id is a UUID in practice; anything longer is not one we should key Redis on.
const MAX_SESSION_ID_LENGTH = 200;
// Older Claude Code: user_<64 hex>_account_<uuid>_session_<uuid>.
const LEGACY_USER_ID_RE = /_session_([A-Za-z0-9-]{1,200})$/;

function usableId(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const id = value.trim();
  return id.length > 0 && id.length <= MAX_SESSION_ID_LENGTH ? id : undefined;
}

function fromHeader(headers: IncomingHttpHeaders): string | undefined {
  const value = headers[SESSION_HEADER];
  return usableId(Array.isArray(value) ? value[0] : value);
}

function fromMetadata(metadata: unknown): string | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const userId = (metadata as { user_id?: unknown }).user_id;
  if (typeof userId !== 'string') return undefined;
  if (userId.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(userId);
      return typeof parsed === 'object' && parsed !== null
        ? usableId((parsed as { session_id?: unknown }).session_id)
        : undefined;
    } catch {
      return undefined;
    }
  }
  return LEGACY_USER_ID_RE.exec(userId)?.[1];
}

// Length-prefixed pieces, so ("ab","c") and ("a","bc") never hash alike.
function feed(hash: Hash, piece: string): void {
  hash.update(`${piece.length}:`);
  hash.update(piece);
}

// Only the text counts: moving a cache_control breakpoint must not start a new conversation.
function feedContent(hash: Hash, content: unknown): void {
  if (typeof content === 'string') {
    feed(hash, content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content as unknown[]) {
    if (typeof block !== 'object' || block === null) continue;
    const { type, text } = block as { type?: unknown; text?: unknown };
    if (type === 'text' && typeof text === 'string') feed(hash, text);
    // Images, documents, tool results: rare as an opening turn, so their JSON is cheap enough here.
    else feed(hash, JSON.stringify(block));
  }
}

function firstUserContent(messages: unknown): unknown {
  if (!Array.isArray(messages)) return undefined;
  const first = (messages as unknown[]).find(
    (m) => typeof m === 'object' && m !== null && (m as { role?: unknown }).role === 'user',
  );
  return first === undefined ? undefined : (first as { content?: unknown }).content;
}

function promptDigest(body: SessionBody): string {
  const hash = createHash('sha256');
  feed(hash, 'system');
  feedContent(hash, body.system);
  feed(hash, 'user');
  feedContent(hash, firstUserContent(body.messages));
  return hash.digest('hex');
}

function sessionHash(keyId: string, kind: string, id: string): string {
  const hash = createHash('sha256');
  feed(hash, keyId);
  feed(hash, kind);
  feed(hash, id);
  return hash.digest('hex');
}

/**
 * The sticky-session key of a request: the `x-claude-code-session-id` header, else the `session_id`
 * in `metadata.user_id` (a JSON string in current Claude Code, `user_…_session_<uuid>` in older
 * ones), else a digest of the system prompt's text and the first user message. Returns
 * sha256(keyId, kind, id) hex, fit for keys.sticky(keyId, key). The header and the metadata name the
 * same session id, so both hash under one kind: a client that sends only one of them still lands on
 * the same node.
 * @example
 * const { key, source } = sessionKeyOf(apiKey.id, req.headers, parsedBody);
 */
export function sessionKeyOf(keyId: string, headers: IncomingHttpHeaders, body: SessionBody): SessionKey {
  const header = fromHeader(headers);
  if (header !== undefined) return { key: sessionHash(keyId, 'session', header), source: 'header' };
  const metadata = fromMetadata(body.metadata);
  if (metadata !== undefined) return { key: sessionHash(keyId, 'session', metadata), source: 'metadata' };
  return { key: sessionHash(keyId, 'prompt', promptDigest(body)), source: 'prompt' };
}
