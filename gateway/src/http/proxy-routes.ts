import type { Request, Response } from 'express';
import { AppError, readBoundedBody, type Logger } from '@switchyard/shared';
import { presentedKey, type KeyAuthenticator, type KeyRecord } from '../keys/index.js';
import type { KeyLimiter } from '../limits/index.js';
import type { ProxyMetrics, RequestObservation } from '../metrics/index.js';
import type { Forwarder } from '../proxy/index.js';
import { chooseNodes, sessionKeyOf, stickyTargetAfter, type RegistrySnapshot, type StickyStore } from '../routing/index.js';
import { trackRequestUsage, type RequestUsage, type UsageDraft } from '../usage/index.js';
import { parseBody, type ParsedBody } from './parse-body.js';
import { localsOf } from './request-context.js';

/** Counters the gateway keeps about its traffic (exported as metrics later). */
export interface GatewayStats {
  requestsWithoutThinking: number;
}

export interface ProxyRouteDeps {
  authenticator: KeyAuthenticator;
  limiter: KeyLimiter;
  registry: RegistrySnapshot;
  sticky: StickyStore;
  forwarder: Forwarder;
  maxBodyBytes: number;
  log: Logger;
  stats: GatewayStats;
  /** Takes one draft per `/v1/messages` request once its response ended; must return at once. */
  usage: { record(draft: UsageDraft): void };
  now(): number;
  /** Prometheus series of the traffic (none: not measured). */
  metrics?: ProxyMetrics;
}

const ignore = (): void => undefined;
const UNWATCHED: RequestObservation = { parsed: ignore, rejected: ignore, sticky: ignore, forwarding: ignore, forwarded: ignore, settled: ignore };

const EMPTY: Buffer = Buffer.alloc(0);
const NO_BODY: ParsedBody = { model: undefined, stream: false, thinking: false };
type ProxyRoute = 'messages' | 'count_tokens' | 'models';

/**
 * `/v1/messages`, `/v1/messages/count_tokens` and `/v1/models`: authenticate, read and parse the body
 * once, enforce the key's limits, pick a node (sticky first), forward the original bytes, log one line.
 * Every authenticated `/v1/messages` request, answered or refused, leaves one usage draft once its
 * response ended (count_tokens and models are not usage).
 */
export function createProxyRoute(deps: ProxyRouteDeps, route: ProxyRoute) {
  return async function proxyRoute(req: Request, res: Response): Promise<void> {
    const { requestId, startedAt, receivedAt } = localsOf(res);
    const watch = deps.metrics?.observe(res, route) ?? UNWATCHED;
    try {
      // 1. Who is calling (before reading any body, so strangers cannot make us buffer 32 MiB).
      const auth = await deps.authenticator.authenticate(presentedKey(req.headers));
      if (!auth.ok) {
        watch.rejected(auth.error.code);
        throw auth.error;
      }
      const key = auth.key;
      const usage = route === 'messages' ? trackRequestUsage(res, deps.usage, { requestId, keyId: key.id, at: receivedAt, startedAt }) : undefined;
      try {
        await admitAndForward(deps, route, req, res, key, usage, watch);
      } finally {
        usage?.settle();
      }
    } finally {
      watch.settled();
    }
  };
}

async function admitAndForward(
  deps: ProxyRouteDeps,
  route: ProxyRoute,
  req: Request,
  res: Response,
  key: KeyRecord,
  usage: RequestUsage | undefined,
  watch: RequestObservation,
): Promise<void> {
  const { requestId, startedAt } = localsOf(res);
  // 2. The body, bounded and parsed once; the bytes go upstream as they came.
  let body: Buffer = EMPTY;
  let parsed = NO_BODY;
  if (route !== 'models') {
    const read = await readBoundedBody(req, deps.maxBodyBytes);
    if (read === undefined) throw new AppError('body_too_large', `Request body is larger than ${deps.maxBodyBytes} bytes`);
    body = read;
    parsed = parseBody(body);
    usage?.parsed(parsed);
    watch.parsed(parsed.model, parsed.stream);
  }

  // 3. The key's limits (synchronous: no Redis round trip).
  // Listing models is not using one: a key limited to some models may still list them.
  const admission =
    route === 'models' ? deps.limiter.admit({ ...key, allowedModels: null }, undefined, deps.now()) : deps.limiter.admit(key, parsed.model, deps.now());
  if (!admission.ok) {
    watch.rejected(admission.error.code);
    throw admission.error;
  }
  try {
    if (route === 'messages' && !parsed.thinking) {
      deps.stats.requestsWithoutThinking++;
      deps.log.warn('request without thinking', { requestId, keyId: key.id, keyName: key.name, model: parsed.model });
    }

    // 4. The node: the conversation's own when it is available, else the least busy.
    const session = route === 'models' ? undefined : sessionKeyOf(key.id, req.headers, parsed);
    const stickyNodeId = session ? await deps.sticky.lookup(key.id, session.key) : undefined;
    const nodes = deps.registry.nodes();
    const choice = chooseNodes(nodes, { model: parsed.model, stickyNodeId, inFlight: (id) => deps.forwarder.inFlight(id), nowMs: deps.now() });
    if (!choice.ok) {
      watch.rejected(choice.error.code);
      throw choice.error;
    }
    if (session) watch.sticky(choice.stickyHit);

    // 5. Forward; failover before the first byte happens inside. The usage capture watches the relayed answer.
    watch.forwarding();
    const outcome = await deps.forwarder.forward(req, res, {
      requestId,
      keyId: key.id,
      method: req.method,
      path: req.originalUrl,
      body,
      candidates: choice.order,
      ...(parsed.model === undefined ? {} : { model: parsed.model }),
      stream: parsed.stream,
      ...(usage === undefined ? {} : { observer: usage.capture }),
    });
    usage?.forwarded(outcome);
    watch.forwarded(outcome);

    // A conversation keeps its node through a failover or a rate limit (its prompt cache lives there)
    // and returns to it once it is available again; it moves only when its node left or needs a human.
    if (session && outcome.nodeId && outcome.status < 400) {
      deps.sticky.remember(key.id, session.key, stickyTargetAfter(nodes, stickyNodeId, outcome.nodeId, { model: parsed.model, nowMs: deps.now() }));
    }
    deps.log.info('request', {
      requestId,
      keyId: key.id,
      route,
      node: outcome.nodeId,
      model: parsed.model,
      stream: parsed.stream,
      status: outcome.status,
      durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
      ttfbMs: outcome.ttfbMs,
      failovers: outcome.failovers,
      sticky: session === undefined ? 'none' : choice.stickyHit ? 'hit' : 'miss',
      aborted: outcome.aborted,
      brokeMidStream: outcome.brokeMidStream,
      upstreamRequestId: outcome.upstreamRequestId,
    });
  } finally {
    admission.release();
  }
}
