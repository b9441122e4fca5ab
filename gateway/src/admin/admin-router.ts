import express, { type Router } from 'express';
import { AppError, type Keyspace, type Logger, type SharedStore } from '@switchyard/shared';
import { createKeyRepository } from '../keys/index.js';
import { createEnrolmentRepository, type EnrolmentRepository } from '../nodes/index.js';
import type { NodeView } from '../routing/index.js';
import type { QueueLagReader } from '../usage/queue-lag.js';
import { adminAuth } from './admin-auth.js';
import { createAlertRoutes } from './alert-routes.js';
import { adminErrorHandler } from './admin-errors.js';
import { createAuthThrottle, type AuthThrottleOptions } from './auth-throttle.js';
import { createEnrolmentRoutes } from './enrolment-routes.js';
import { createKeyRoutes } from './key-routes.js';
import { createNodeRoutes, type BuildInfo, type NodeRoutesDeps } from './node-routes.js';
import { buildAdminOpenApi } from './openapi.js';
import { createSessionRoutes } from './session-routes.js';
import { createUsageRoutes } from './usage-routes.js';

/** Dependencies of createAdminRouter. */
export interface AdminRouterDeps {
  store: Pick<
    SharedStore,
    'get' | 'set' | 'del' | 'mget' | 'compareAndSet' | 'sadd' | 'srem' | 'smembers' | 'hgetall' | 'lrange'
  >;
  keys: Pick<
    Keyspace,
    | 'keyByDigest'
    | 'keyById'
    | 'keyIds'
    | 'nodeControl'
    | 'nodeEnrolment'
    | 'nodeEnrolments'
    | 'sealedCredential'
    | 'usage'
    | 'usageIndex'
    | 'usageAllTime'
    | 'usageMonth'
    | 'usagePriceVersions'
    | 'recent'
    | 'alertsRecent'
  >;
  /** ADMIN_TOKEN, every call: at least 32 bytes, not shaped like a node token or a gateway key (else the router refuses to be built). */
  adminToken: string;
  /** ADMIN_READ_TOKEN, every GET and HEAD: the same checks, and not the admin token. None: no read-only role. */
  readToken?: string;
  /** Failed authentications per source address (defaults: 10 per 60 s window, 10,000 addresses tracked; the clock defaults to `now`). */
  authThrottle?: AuthThrottleOptions;
  /** The nodes connected to this gateway. */
  registry: { nodes(): NodeView[] };
  /** Node enrolments (default: a repository on `store`, the same data the tunnel checks). */
  enrolments?: EnrolmentRepository;
  log: Logger;
  now?: () => number;
  /** This gateway's build, shown by GET /admin/nodes; default `unknown`. */
  build?: BuildInfo;
  /** Quota foresight for GET /admin/nodes (none: the node routes read the registry for one of their own). */
  foresight?: NodeRoutesDeps['foresight'];
  /** The usage queue's lag for GET /admin/usage (none: it answers lagSeconds and queue as null). */
  queueLag?: QueueLagReader;
  /** USAGE_LAG_WARN_SECONDS, carried by GET /admin/usage for the dashboard; default 60. */
  lagWarnSeconds?: number;
}

const ADMIN_BODY_LIMIT = '64kb';
const UNKNOWN_BUILD: BuildInfo = { version: 'unknown', gitSha: 'unknown' };

/**
 * The admin API, to mount at `/admin`: its OpenAPI document at /openapi.json without a token or throttle; on every
 * other route Bearer ADMIN_TOKEN (everything) or ADMIN_READ_TOKEN (GET and HEAD only, else 403), checked before any
 * body is read (a node token or a gateway key is never either), with failed authentications throttled per source
 * address (429 with retry-after). Who signed in at /session, key management under /keys, the fleet and node enrolment
 * under /nodes and token usage under /usage. Answers all its own errors in the Anthropic envelope.
 * @example app.use('/admin', createAdminRouter({ store, keys, adminToken, readToken, registry, log }));
 */
export function createAdminRouter(deps: AdminRouterDeps): Router {
  const now = deps.now ?? Date.now;
  const router = express.Router();
  // Before the token check: the document describes the API and carries no data.
  const openapi = buildAdminOpenApi();
  router.get('/openapi.json', function getOpenApi(_req, res) {
    res.json(openapi);
  });
  const throttle = createAuthThrottle({ now, ...deps.authThrottle, log: deps.log });
  router.use(adminAuth({ adminToken: deps.adminToken, readToken: deps.readToken, throttle }));
  router.use(express.json({ limit: ADMIN_BODY_LIMIT }));
  router.use(createSessionRoutes());
  router.use(
    createKeyRoutes({ repo: createKeyRepository({ store: deps.store, keys: deps.keys, now }), log: deps.log }),
  );
  const enrolments = deps.enrolments ?? createEnrolmentRepository({ store: deps.store, keys: deps.keys, now });
  router.use(createEnrolmentRoutes({ enrolments, store: deps.store, keys: deps.keys, log: deps.log }));
  router.use(
    createNodeRoutes({
      store: deps.store,
      keys: deps.keys,
      enrolments,
      registry: deps.registry,
      log: deps.log,
      now,
      build: deps.build ?? UNKNOWN_BUILD,
      foresight: deps.foresight,
    }),
  );
  router.use(
    createUsageRoutes({
      store: deps.store,
      keys: deps.keys,
      now,
      queueLag: deps.queueLag,
      lagWarnSeconds: deps.lagWarnSeconds,
    }),
  );
  router.use(createAlertRoutes({ store: deps.store, keys: deps.keys }));
  router.use(function adminNotFound(req, _res, next) {
    next(new AppError('not_found', `Not found: ${req.method} /admin${req.path}`));
  });
  router.use(adminErrorHandler(deps.log));
  return router;
}
