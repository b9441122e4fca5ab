// Every Redis key string Switchyard uses is built here, so the keyspace can be read (and audited) in one file.

/** The aggregation levels of the usage totals. */
export type UsageScope = 'global' | 'key' | 'node' | 'model';

const USAGE_SCOPES: readonly UsageScope[] = ['global', 'key', 'node', 'model'];
/** What a key prefix may look like: letters, digits, _ . - :, ending with a single ":". */
export const REDIS_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]*[A-Za-z0-9_.-]:$/;
const SHA256_HEX_RE = /^[0-9a-f]{64}$/;
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const MONTH_RE = /^\d{4}-\d{2}$/;
// Whitespace and control characters break redis-cli use and log lines; ':' would let one id reach another's key.
const UNSAFE_ID_RE = /[\s\p{Cc}:]/u;
const UNSAFE_FREE_ID_RE = /[\s\p{Cc}]/u;

function id(name: string, value: string, allowColon = false): string {
  const unsafe = allowColon ? UNSAFE_FREE_ID_RE : UNSAFE_ID_RE;
  if (value.length === 0 || unsafe.test(value)) {
    throw new RangeError(`Redis key part "${name}" must be non-empty without whitespace${allowColon ? '' : ' or ":"'}`);
  }
  return value;
}

function sha256Hex(name: string, value: string): string {
  // Guards against a raw secret ending up in a key name.
  if (!SHA256_HEX_RE.test(value)) throw new RangeError(`Redis key part "${name}" must be 64 lowercase hex characters`);
  return value;
}

function checkScope(scope: UsageScope): void {
  if (!USAGE_SCOPES.includes(scope)) throw new RangeError(`Unknown usage scope "${String(scope)}"`);
}

function checkDay(day: string): void {
  if (!DAY_RE.test(day)) throw new RangeError('Redis key part "day" must be YYYY-MM-DD');
}

function checkMonth(month: string): void {
  if (!MONTH_RE.test(month)) throw new RangeError('Redis key part "month" must be YYYY-MM');
}

function checkMinute(minute: number): void {
  if (!Number.isSafeInteger(minute) || minute < 0)
    throw new RangeError('Redis key part "minute" must be a non-negative integer');
}

/** The UTC day `YYYY-MM-DD` of an epoch-ms instant: the `{day}` of usage keys. */
export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** The UTC month `YYYY-MM` of an epoch-ms instant: the `{month}` of monthly usage keys. */
export function utcMonth(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 7);
}

/** The whole minutes since the epoch of an epoch-ms instant: the `{minute}` of rate-window keys. */
export function epochMinute(epochMs: number): number {
  return Math.floor(epochMs / 60_000);
}

/**
 * Builds every key the services use. All keys start with `prefix`, which must end with ':'.
 * @example
 * const keys = createKeyspace('sy:');
 * keys.nodeEnrolment('node-a'); // 'sy:enrol:node-a'
 */
export function createKeyspace(prefix = 'sy:'): Keyspace {
  return new Keyspace(prefix);
}

/** The key builders: one method per key, each saying who writes and reads it and how long it lives. */
export class Keyspace {
  /** The prefix every key starts with (for SCAN MATCH `${prefix}*`). */
  readonly prefix: string;

  constructor(prefix = 'sy:') {
    if (!REDIS_PREFIX_PATTERN.test(prefix)) {
      throw new RangeError('Redis key prefix must be letters, digits, _ . - : and end with a single ":"');
    }
    this.prefix = prefix;
  }

  /** Node control flags (drain). Gateway admin writes; gateway router reads (the node never does). No TTL. */
  nodeControl(nodeId: string): string {
    return this.#key('node', id('nodeId', nodeId), 'control');
  }

  /** A node's enrolment `{nodeId, label?, tokenDigest, createdAt, rotatedAt?}` (only the SHA-256 of its token). Gateway admin writes; gateway tunnel and credential routes read. No TTL. */
  nodeEnrolment(nodeId: string): string {
    return this.#key('enrol', id('nodeId', nodeId));
  }

  /** Set of enrolled node ids. Gateway admin writes; GET /admin/nodes lists it (revocation is found by each connected node's `enrol:` entry). No TTL. */
  nodeEnrolments(): string {
    return this.#key('enrolled');
  }

  /** The node's credential record sealed under a key only its token derives (the gateway cannot open it). Gateway credential route writes for the node. No TTL. */
  sealedCredential(nodeId: string): string {
    return this.#key('sealed', id('nodeId', nodeId));
  }

  /** Which node process (its random instance id) holds this node id; one live process per id. Gateways holding its tunnels renew it. TTL: seconds. */
  nodeLease(nodeId: string): string {
    return this.#key('lease', id('nodeId', nodeId));
  }

  /** Live gateway replicas: hash replica id → `{url?, seenAt}`. Each replica writes its own field; nodes learn the list through their tunnel. No TTL (stale fields are skipped by seenAt). */
  gatewayReplicas(): string {
    return this.#key('gateways');
  }

  /** Gateway user key record, found by the SHA-256 hex of the presented key (never the key itself). Gateway admin writes; gateway auth reads. No TTL. */
  keyByDigest(sha256hex: string): string {
    return this.#key('key', sha256Hex('sha256hex', sha256hex));
  }

  /** Set of gateway key ids. Gateway admin writes and lists. No TTL. */
  keyIds(): string {
    return this.#key('keys');
  }

  /** Gateway key record by id. Gateway admin writes and reads. No TTL. */
  keyById(keyId: string): string {
    return this.#key('keyid', id('keyId', keyId));
  }

  /** Which node a conversation sticks to. Gateway router writes and reads. TTL: the session idle time. */
  sticky(keyId: string, sessionHash: string): string {
    return this.#key('sticky', id('keyId', keyId), id('sessionHash', sessionHash));
  }

  /** Requests of one key in one minute (a fixed window; `minute` from epochMinute()). Gateway limiter increments. TTL: about two minutes. */
  rateWindow(keyId: string, minute: number): string {
    checkMinute(minute);
    return this.#key('rl', id('keyId', keyId), minute);
  }

  /** In-flight requests of one key. Gateway increments on entry, decrements on exit. TTL: a safety net against leaked counts. */
  concurrency(keyId: string): string {
    return this.#key('conc', id('keyId', keyId));
  }

  /**
   * Usage totals (hash of token counters) for one scope, id and UTC day (`day` from utcDay()); scope 'global' uses id 'all'.
   * Usage worker increments; gateway admin reads. TTL: the retention period. Ids may contain ':' (some model ids do).
   */
  usage(scope: UsageScope, scopeId: string, day: string): string {
    checkScope(scope);
    checkDay(day);
    return this.#key('usage', scope, id('scopeId', scopeId, true), day);
  }

  /** Set of the ids of one scope that have a usage hash on that day (what `GET /admin/usage?by=` lists). Usage worker adds; gateway admin reads. TTL: the retention period. */
  usageIndex(scope: UsageScope, day: string): string {
    checkScope(scope);
    checkDay(day);
    return this.#key('usage-ids', scope, day);
  }

  /** Usage totals since the start (same fields as `usage`). Usage worker increments; gateway admin reads. No TTL. */
  usageAllTime(): string {
    return this.#key('usage', 'total');
  }

  /** Marker that one request's usage was counted, set in the same script as the increments (exactly once). Usage worker. TTL: the dedupe window, 30 days. */
  usageDone(requestId: string): string {
    return this.#key('usage', 'done', id('requestId', requestId));
  }

  /**
   * The conversation-history hash table: the token count of one content block under one encoding,
   * by the SHA-256 hex of its canonical JSON. Usage worker writes and refreshes; gateway reads (which
   * blocks to ship). TTL: days, refreshed on every use.
   */
  blockTokens(encoding: string, sha256hex: string): string {
    return this.#key('blk', id('encoding', encoding), sha256Hex('sha256hex', sha256hex));
  }

  /** List of recent request summaries, capped by trimming. Usage worker pushes; gateway admin reads. No TTL. */
  recent(): string {
    return this.#key('recent');
  }

  /**
   * Usage totals of one key for one UTC month (`month` from utcMonth(); same fields as `usage`): what a monthly
   * USD budget counts. Usage worker increments; gateway limiter and admin read. TTL: the retention period.
   */
  usageMonth(keyId: string, month: string): string {
    checkMonth(month);
    return this.#key('usage-month', 'key', id('keyId', keyId), month);
  }

  /** Set of the price-data versions (PriceBook.version) that priced some request of a UTC day. Usage worker adds; gateway admin reads. TTL: the retention period. */
  usagePriceVersions(day: string): string {
    checkDay(day);
    return this.#key('usage-prices', day);
  }

  /** Cost reserved for one key's admitted, not yet counted requests: hash instance id → `micros:tokens:atMs`. Gateway limiters write their own field and read the others'. TTL: a safety net. */
  budgetReserved(keyId: string): string {
    return this.#key('reserved', id('keyId', keyId));
  }

  /** Marker that an alert (by its id) was raised already, so it is delivered once however often it is raised. Usage worker. TTL: days. */
  alertRaised(alertId: string): string {
    return this.#key('alert', 'raised', id('alertId', alertId, true));
  }

  /** List of recent alerts (JSON AlertEvent, newest first), capped by trimming. Usage worker pushes; gateway admin reads. No TTL. */
  alertsRecent(): string {
    return this.#key('alerts', 'recent');
  }

  #key(...parts: (string | number)[]): string {
    return this.prefix + parts.join(':');
  }
}
