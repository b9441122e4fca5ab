// The gateway's sealed copy of this node's credential record: how a new host with the same NODE_ID and NODE_TOKEN
// and an empty volume gets its account back without a login. The record is sealed here (sealForNode: a key derived
// from NODE_TOKEN, which the gateway never stores), so the gateway only ever holds ciphertext.
import {
  CREDENTIAL_PATH,
  openForNode,
  SealedCredentialSchema,
  SealError,
  sealForNode,
  TunnelHeaders,
  type Logger,
} from '@switchyard/shared';
import { gatewayUrlProblem } from '../fleet/gateway-url.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { serializeCredential, tryParseCredential, type OAuthCredential } from './oauth-credential.js';
import { abortableSleep } from './sleep.js';

/** The sealed copy at GATEWAY_URL + CREDENTIAL_PATH. */
export interface SealedCopy {
  /**
   * Fetches and opens the copy. undefined when the gateway has none (404) or it does not open with this token
   * (a rotated token, altered bytes: warned about once). Retries an unreachable gateway (network, timeout, 5xx, 429)
   * for up to `patienceMs` (default: the copy's loadPatienceMs).
   * @throws SealedCopyError('refused') when the gateway refuses NODE_TOKEN for NODE_ID, ('unreachable') when out of patience.
   */
  load(opts?: { patienceMs?: number }): Promise<OAuthCredential | undefined>;
  /** Seals `credential` and PUTs it in the background, retrying with backoff until it lands; a later save replaces a pending one. */
  save(credential: OAuthCredential): void;
  /** Tries a pending save at once and waits until it landed: true, or `timeoutMs` passed (default: no limit): false. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops retrying: a pending save is dropped (the volume keeps the record; the next start re-seals it); an attempt in flight may still land. */
  close(): void;
}

export interface SealedCopyOptions {
  /** GATEWAY_URL */
  gatewayUrl: string;
  nodeId: string;
  /** NODE_TOKEN: authenticates the requests and seals the record. */
  token: string;
  /** GATEWAY_ALLOW_HTTP: plain http to a host that is not loopback or private. */
  allowHttp?: boolean;
  log: Logger;
  fetchImpl?: typeof fetch;
  /** Deadline of one request. Default 10 s. */
  timeoutMs?: number;
  /** Save retries. Default 1 s doubling to 60 s. */
  backoff?: BackoffPolicy;
  /** How long load() waits for an unreachable gateway by default. Default 30 s: a node cannot serve without it anyway. */
  loadPatienceMs?: number;
  random?: () => number;
}

/** Why load() got no answer: the gateway refused the node's token, or could not be reached in time. */
export class SealedCopyError extends Error {
  override readonly name = 'SealedCopyError';
  constructor(
    readonly code: 'refused' | 'unreachable',
    message: string,
  ) {
    super(message);
  }
}

const NEVER = new AbortController().signal;

type Attempt = { ok: true; res: Response } | { ok: false; reason: string };

/**
 * Creates the sealed copy of node `nodeId`.
 * @throws Error when `gatewayUrl` is plain http to a public host without `allowHttp` (the token would travel in clear).
 * @example
 * const copy = createSealedCopy({ gatewayUrl: config.GATEWAY_URL, nodeId: config.NODE_ID, token: config.NODE_TOKEN, log });
 * const restored = await copy.load();
 */
export function createSealedCopy(opts: SealedCopyOptions): SealedCopy {
  return new GatewaySealedCopy(opts);
}

/** The {@link SealedCopy} over the gateway's credential route: load() asks once with patience, save() pumps in the background. */
export class GatewaySealedCopy implements SealedCopy {
  readonly #opts: SealedCopyOptions;
  readonly #url: URL;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #policy: BackoffPolicy;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #headers: Record<string, string>;
  /** The newest record still to be stored at the gateway. */
  #pending: OAuthCredential | undefined;
  /** The background loop storing `#pending`, while it runs. */
  #pump: Promise<void> | undefined;
  #wake = new AbortController();
  #closed = false;
  #failing = false;
  #warnedUnopenable = false;

  constructor(opts: SealedCopyOptions) {
    const url = new URL(`${opts.gatewayUrl.replace(/\/+$/, '')}${CREDENTIAL_PATH}`);
    const problem = gatewayUrlProblem(url, opts.allowHttp ?? false);
    if (problem !== undefined) throw new Error(`GATEWAY_URL ${problem}`);
    this.#opts = opts;
    this.#url = url;
    this.#fetch = opts.fetchImpl ?? fetch;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#policy = opts.backoff ?? { baseMs: 1_000, maxMs: 60_000 };
    this.#random = opts.random ?? Math.random;
    this.#log = opts.log.child({ component: 'sealed-copy', nodeId: opts.nodeId });
    this.#headers = { authorization: `Bearer ${opts.token}`, [TunnelHeaders.nodeId]: opts.nodeId };
  }

  async load(loadOpts: { patienceMs?: number } = {}): Promise<OAuthCredential | undefined> {
    const deadline = performance.now() + (loadOpts.patienceMs ?? this.#opts.loadPatienceMs ?? 30_000);
    for (let attempt = 1; ; attempt++) {
      const answer = await this.#send('GET');
      if (answer.ok) {
        const { res } = answer;
        if (res.status === 404) {
          await res.body?.cancel();
          return undefined;
        }
        if (res.status !== 200) {
          await res.body?.cancel();
          throw this.#refused(res.status);
        }
        return this.#opened(await res.json().catch(() => undefined));
      }
      const delay = backoffDelay(attempt, { baseMs: 250, maxMs: 5_000 }, this.#random);
      if (performance.now() + delay > deadline) {
        throw new SealedCopyError(
          'unreachable',
          `the gateway's sealed credential copy could not be fetched (${answer.reason}): check GATEWAY_URL`,
        );
      }
      // A timer that holds the process: at start this wait is all there is to do, and an unref'd one let
      // the node exit 0 silently while the gateway was unreachable.
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  save(credential: OAuthCredential): void {
    if (this.#closed) return;
    this.#pending = credential;
    this.#pump ??= this.#run().finally(() => {
      this.#pump = undefined;
      // A save that came in after the loop's last look.
      if (this.#pending !== undefined) this.save(this.#pending);
    });
  }

  async flush(timeoutMs = Infinity): Promise<boolean> {
    if (this.#pending === undefined) return true;
    this.#kick();
    const timer = Number.isFinite(timeoutMs) ? AbortSignal.timeout(timeoutMs) : NEVER;
    while (this.#pending !== undefined && !this.#closed && !timer.aborted) {
      await Promise.race([this.#pump, abortableSleep(50, timer)]);
    }
    return this.#pending === undefined;
  }

  close(): void {
    this.#closed = true;
    this.#pending = undefined;
    this.#kick();
  }

  /** One request; an unreachable gateway (network, timeout, 5xx, 429) is an answer-less attempt. */
  async #send(method: 'GET' | 'PUT', body?: string): Promise<Attempt> {
    try {
      const init: RequestInit = {
        method,
        headers: body === undefined ? this.#headers : { ...this.#headers, 'content-type': 'application/json' },
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(body === undefined ? {} : { body }),
      };
      const res = await this.#fetch(this.#url, init);
      if (res.status >= 500 || res.status === 429) {
        await res.body?.cancel();
        return { ok: false, reason: `HTTP ${res.status}` };
      }
      return { ok: true, res };
    } catch (err) {
      return { ok: false, reason: (err as Error).name === 'TimeoutError' ? 'timeout' : 'network' };
    }
  }

  #refused(status: number): SealedCopyError {
    return new SealedCopyError(
      'refused',
      `the gateway refused NODE_TOKEN for node ${this.#opts.nodeId} (HTTP ${status}): check NODE_ID and NODE_TOKEN (a rotated or revoked token?)`,
    );
  }

  /** The record in a GET answer, or undefined (warned about once) when it does not open with this token. */
  #opened(body: unknown): OAuthCredential | undefined {
    const parsed = SealedCredentialSchema.safeParse(body);
    let credential: OAuthCredential | undefined;
    try {
      credential = parsed.success
        ? tryParseCredential(openForNode(this.#opts.token, this.#opts.nodeId, parsed.data.sealed))
        : undefined;
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
    }
    if (credential === undefined && !this.#warnedUnopenable) {
      this.#warnedUnopenable = true;
      this.#log.warn(
        'the sealed credential copy at the gateway does not open with this NODE_TOKEN (sealed under a rotated token?): ignoring it',
      );
    }
    return credential;
  }

  /** Seals and PUTs one record; logs the first failure of a run and the recovery. */
  async #put(credential: OAuthCredential): Promise<boolean> {
    const { token, nodeId } = this.#opts;
    const body = JSON.stringify({ sealed: sealForNode(token, nodeId, serializeCredential(credential)) });
    const answer = await this.#send('PUT', body);
    if (answer.ok) await answer.res.body?.cancel();
    const ok = answer.ok && answer.res.status >= 200 && answer.res.status < 300;
    if (ok && this.#failing) this.#log.info('sealed credential copy stored at the gateway');
    if (!ok && !this.#failing) {
      const reason = answer.ok ? `HTTP ${answer.res.status}` : answer.reason;
      this.#log.warn('sealed credential copy not stored at the gateway, retrying in the background', { reason });
    }
    this.#failing = !ok;
    return ok;
  }

  /** The pump: stores the newest pending record, backing off between failures, until none is left or it is closed. */
  async #run(): Promise<void> {
    for (let attempt = 0; this.#pending !== undefined && !this.#closed;) {
      const credential = this.#pending;
      if (await this.#put(credential)) {
        if (this.#pending === credential) this.#pending = undefined;
        attempt = 0;
        continue;
      }
      attempt += 1;
      await abortableSleep(backoffDelay(attempt, this.#policy, this.#random), this.#wake.signal);
    }
  }

  #kick(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }
}
