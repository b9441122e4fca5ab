// Talks to a gateway's admin API with global fetch, and turns every way that can fail into one line that
// says what to do about it.
import { ApiError, CliError } from './cli-error.js';

/** A call to the admin API; resolves to the parsed JSON answer of a 2xx, rejects with a CliError (an ApiError for a 4xx the API explains). */
export interface AdminClient {
  readonly url: string;
  request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<unknown>;
}

export interface AdminClientOptions {
  url: string;
  token: string;
  /** How to fix a refused token: the flag or variable the token came from. */
  tokenSource: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EADDRNOTAVAIL',
]);

/** Checks --url / SWITCHYARD_URL: http(s), no trailing slash. */
export function normalizeGatewayUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`invalid gateway URL '${raw}': expected http://host:port (set --url or SWITCHYARD_URL)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`invalid gateway URL '${raw}': expected http:// or https:// (set --url or SWITCHYARD_URL)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new CliError(
      'the gateway URL must not carry credentials: pass the admin token with --token or SWITCHYARD_ADMIN_TOKEN',
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function errorCode(err: unknown): string | undefined {
  for (
    let e: unknown = err, depth = 0;
    e !== null && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function innermostMessage(err: unknown): string {
  let message = String(err);
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) message = e.message;
  return message;
}

function envelopeOf(json: unknown): { message: string; requestId: string | undefined } | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const {
    type,
    error,
    request_id: requestId,
  } = json as { type?: unknown; error?: { message?: unknown }; request_id?: unknown };
  if (type !== 'error' || typeof error?.message !== 'string') return undefined;
  return { message: error.message, requestId: typeof requestId === 'string' ? requestId : undefined };
}

/** "40s" from a retry-after of seconds; undefined when it is missing or not a number of seconds. */
function retryAfterSeconds(header: string | null): string | undefined {
  return header !== null && /^\d+$/.test(header.trim()) ? `${Number(header)}s` : undefined;
}

/** A client for the admin API at `url` (the gateway's base URL, or its admin listener's; the client adds /admin). */
export function createAdminClient(opts: AdminClientOptions): AdminClient {
  return new HttpAdminClient(opts);
}

/** The admin API over fetch, every failure a CliError (an ApiError for a 4xx the API explains). */
class HttpAdminClient implements AdminClient {
  readonly url: string;
  readonly #token: string;
  readonly #tokenSource: string;
  readonly #timeoutMs: number;

  constructor(opts: AdminClientOptions) {
    this.url = normalizeGatewayUrl(opts.url);
    this.#token = opts.token;
    this.#tokenSource = opts.tokenSource;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const res = await this.#send(method, path, body);
    const json = await this.#jsonOf(res);
    if (res.ok) return json;
    throw this.#refusal(method, path, res, json);
  }

  async #send(method: string, path: string, body: unknown): Promise<Response> {
    try {
      return await fetch(`${this.url}/admin${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw this.#unreachable(err);
    }
  }

  #unreachable(err: unknown): CliError {
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new CliError(
        `the gateway at ${this.url} did not answer within ${Math.round(this.#timeoutMs / 1000)}s (is it overloaded? check its log)`,
      );
    }
    const code = errorCode(err);
    if (code !== undefined && UNREACHABLE_CODES.has(code))
      return new CliError(`cannot reach the gateway at ${this.url} (is it running? set --url)`);
    return new CliError(`cannot reach the gateway at ${this.url}: ${code ?? innermostMessage(err)} (set --url)`);
  }

  async #jsonOf(res: Response): Promise<unknown> {
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(
        `${this.url} answered HTTP ${res.status} with something other than the Switchyard admin API (check --url)`,
      );
    }
  }

  /** Why a non-2xx answer failed, as the error to throw. */
  #refusal(method: string, path: string, res: Response, json: unknown): CliError {
    const envelope = envelopeOf(json);
    if (res.status === 401) return new CliError(`the gateway refused the admin token (check ${this.#tokenSource})`);
    // The admin API's only 403: the read-only token (ADMIN_READ_TOKEN) tried to change something.
    if (res.status === 403)
      return new CliError(
        `this token is read-only: ${method} /admin${path} needs the admin token, ADMIN_TOKEN (check ${this.#tokenSource})`,
      );
    if (res.status === 429) {
      const wait = retryAfterSeconds(res.headers.get('retry-after'));
      return new CliError(
        `the gateway refuses this address for ${wait ?? 'a while'} after too many wrong admin tokens from it (try again then; check ${this.#tokenSource})`,
      );
    }
    if (envelope === undefined)
      return new CliError(`${this.url} answered HTTP ${res.status} without a Switchyard error (check --url)`);
    if (res.status >= 500) {
      const id = envelope.requestId === undefined ? '' : `, request id ${envelope.requestId}`;
      return new CliError(`the gateway failed (HTTP ${res.status}${id}): ${envelope.message} (see the gateway's log)`);
    }
    return new ApiError(envelope.message, res.status);
  }
}
