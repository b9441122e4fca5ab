// Test-only helpers for the credentials integration tests: the fake upstream, a stand-in for the gateway's sealed
// credential route (a real HTTP server on loopback), a captured logger, a temp CREDENTIALS_DIR (the node's volume),
// and a manual clock. Imported only by *.test.ts files.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  CREDENTIAL_PATH,
  createLogger,
  isSealedShape,
  NodeTokens,
  openForNode,
  TunnelHeaders,
  type Logger,
} from '@switchyard/shared';
import { createFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions, waitFor } from '@switchyard/testkit';
import { createEgress, type Egress } from '../upstream/egress.js';
import type { AccountConfig } from './create-account-auth.js';
import { createCredentialFile, type CredentialFile } from './credential-file.js';
import { tryParseCredential, type OAuthCredential } from './oauth-credential.js';
import { createSealedCopy, type SealedCopy } from './sealed-copy.js';
import type { Sleep } from './sleep.js';

/** A logger whose lines are kept for assertions. */
export interface CapturedLog {
  log: Logger;
  lines(): string[];
  /** Parsed JSON lines. */
  records(): Record<string, unknown>[];
}

/** Creates a JSON logger writing into memory. */
export function captureLog(): CapturedLog {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '');
  return {
    log: createLogger({ service: 'node-agent-test', level: 'debug', stream }),
    lines,
    records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A clock that moves only when told, with a {@link Sleep} that wakes on it. */
export interface ManualClock {
  now(): number;
  sleep: Sleep;
  /** Sleepers currently waiting. */
  readonly pending: number;
  /**
   * Moves time forward by `ms`, waking sleepers in deadline order. After each wake it waits (real time) until as many
   * sleepers wait again as before, so the work a wake started (Redis, HTTP) finishes before time moves on.
   */
  advance(ms: number): Promise<void>;
}

export function createManualClock(start = Date.now()): ManualClock {
  let t = start;
  const sleepers = new Set<{ until: number; wake: () => void }>();
  const clock: ManualClock = {
    now: () => t,
    get pending() {
      return sleepers.size;
    },
    sleep: (ms, signal) =>
      new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const entry = { until: t + ms, wake: () => {} };
        entry.wake = () => {
          sleepers.delete(entry);
          signal.removeEventListener('abort', entry.wake);
          resolve();
        };
        sleepers.add(entry);
        signal.addEventListener('abort', entry.wake, { once: true });
      }),
    async advance(ms) {
      const target = t + ms;
      for (;;) {
        const due = [...sleepers].filter((s) => s.until <= target).sort((a, b) => a.until - b.until)[0];
        if (!due) break;
        const before = sleepers.size;
        t = Math.max(t, due.until);
        due.wake();
        await waitFor('the woken work to settle', () => sleepers.size >= before, 10_000);
      }
      t = target;
    },
  };
  return clock;
}

/**
 * A stand-in for the gateway's sealed credential route (gateway/src/nodes/credential-routes.ts, which the node-agent
 * may not import): GET/PUT CREDENTIAL_PATH with the same contract (Bearer token + node id, 404 before any PUT, 204,
 * only a sealed-shaped value stored). A real HTTP server on loopback that can be taken down and brought back on its port.
 */
export interface CredentialServer {
  url: string;
  /** The token it accepts (an enrolment rotation sets another). */
  token: string;
  readonly nodeId: string;
  /** The stored ciphertext, as the gateway would keep it in Redis. */
  sealed: string | undefined;
  /** PUTs it accepted. */
  readonly puts: number;
  /** GETs and PUTs it answered with 401. */
  readonly refused: number;
  down(): Promise<void>;
  up(): Promise<void>;
}

export async function startCredentialServer(nodeId: string, token: string): Promise<CredentialServer> {
  let puts = 0;
  let refused = 0;
  let port = 0;
  let server: http.Server | undefined;
  const state: CredentialServer = {
    url: '',
    token,
    nodeId,
    sealed: undefined,
    get puts() {
      return puts;
    },
    get refused() {
      return refused;
    },
    down: async () => {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    },
    up: async () => {
      const s = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const answer = (status: number, body?: unknown) => {
            res
              .writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
              .end(body === undefined ? undefined : JSON.stringify(body));
          };
          if (req.url !== CREDENTIAL_PATH) return answer(404, { error: 'not found' });
          if (
            req.headers.authorization !== `Bearer ${state.token}` ||
            req.headers[TunnelHeaders.nodeId] !== state.nodeId
          ) {
            refused += 1;
            return answer(401, { type: 'error', error: { type: 'authentication_error', message: 'unauthenticated' } });
          }
          if (req.method === 'GET')
            return state.sealed === undefined ? answer(404, { type: 'error' }) : answer(200, { sealed: state.sealed });
          if (req.method !== 'PUT') return answer(405);
          let sealed: unknown;
          try {
            sealed = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sealed?: unknown }).sealed;
          } catch {
            sealed = undefined;
          }
          if (typeof sealed !== 'string' || !isSealedShape(sealed)) return answer(400, { type: 'error' });
          state.sealed = sealed;
          puts += 1;
          answer(204);
        });
      });
      await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
      port = (s.address() as AddressInfo).port;
      state.url = `http://127.0.0.1:${port}`;
      server = s;
    },
  };
  await state.up();
  return state;
}

/** Everything an account test needs; cleanup() removes it all. */
export interface Harness {
  fake: FakeAnthropic;
  url: string;
  nodeId: string;
  /** NODE_TOKEN */
  token: string;
  dir: string;
  egress: Egress;
  captured: CapturedLog;
  /** The gateway's sealed credential route. */
  gateway: CredentialServer;
  /** The node's sealed copy (short backoffs); closed at cleanup. */
  copy: SealedCopy;
  /** Another sealed copy on the same gateway, e.g. under a rotated token. Closed at cleanup. */
  newCopy(token?: string): SealedCopy;
  /** The node's volume record (CREDENTIALS_DIR/<nodeId>.json). */
  file: CredentialFile;
  /** A config pointing at the fake, with no OAuth variables set unless given. */
  config(overrides?: Partial<AccountConfig>): AccountConfig;
  /** The gateway's copy opened with `token` (default the node's), or undefined when there is none. */
  sealedRecord(token?: string): OAuthCredential | undefined;
  cleanup(): Promise<void>;
}

export async function createHarness(opts: { fake?: FakeAnthropicOptions } = {}): Promise<Harness> {
  const fake = createFakeAnthropic(opts.fake ?? { accounts: [{ id: 'acct-1', email: 'one@example.test' }] });
  const url = await fake.start();
  const dir = await mkdtemp(join(tmpdir(), 'sy-cred-'));
  const egress = createEgress();
  const nodeId = 'node-a';
  const token = NodeTokens.generate();
  const gateway = await startCredentialServer(nodeId, token);
  const captured = captureLog();
  const copies: SealedCopy[] = [];
  const newCopy = (t = token) => {
    const copy = createSealedCopy({
      gatewayUrl: gateway.url,
      nodeId,
      token: t,
      log: captured.log,
      backoff: { baseMs: 50, maxMs: 500 },
      loadPatienceMs: 2_000,
    });
    copies.push(copy);
    return copy;
  };
  const volume = join(dir, 'volume');
  return {
    fake,
    url,
    nodeId,
    token,
    dir,
    egress,
    captured,
    gateway,
    copy: newCopy(),
    newCopy,
    file: createCredentialFile(volume, nodeId),
    config: (overrides = {}) => ({
      NODE_ID: nodeId,
      ANTHROPIC_API_KEY: undefined,
      CLAUDE_REFRESH_TOKEN: undefined,
      CLAUDE_CREDENTIALS_FILE: undefined,
      CREDENTIALS_DIR: volume,
      ANTHROPIC_OAUTH_TOKEN_URL: `${url}/v1/oauth/token`,
      ANTHROPIC_BASE_URL: url,
      OAUTH_CLIENT_ID: '9d1c250a-e61b-44d9-88ed-5944d1962f5e',
      REFRESH_MARGIN_MS: 10 * 60_000,
      ...overrides,
    }),
    sealedRecord: (t = token) =>
      gateway.sealed === undefined ? undefined : tryParseCredential(openForNode(t, nodeId, gateway.sealed)),
    async cleanup() {
      for (const c of copies) c.close();
      await gateway.down();
      egress.destroy();
      await fake.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every credential the fake saw or issued in its records: what must never show up in a log line. */
export function tokensSeenByFake(fake: FakeAnthropic): string[] {
  const tokens = new Set<string>();
  for (const r of fake.tokenRequests) if (r.refreshToken) tokens.add(r.refreshToken);
  for (const r of fake.requests) if (r.accessToken) tokens.add(r.accessToken);
  return [...tokens];
}

/** The tokens (and their distinctive tails, to catch partial leaks) that appear in any of `lines`. */
export function leakedTokens(lines: readonly string[], tokens: readonly string[]): string[] {
  const text = lines.join('\n');
  return tokens.filter((t) => text.includes(t) || (t.length > 24 && text.includes(t.slice(-16))));
}
