// GET / PUT CREDENTIAL_PATH: the sealed copy of a node's credential record, kept for the node so that a new host
// with the same NODE_ID and NODE_TOKEN (and an empty volume) gets its account back. The gateway stores only the
// ciphertext (sealed by the node under a key derived from its token, which the gateway never keeps) and never logs it.
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import {
  AppError,
  CREDENTIAL_PATH,
  isSealedShape,
  MAX_SEALED_LENGTH,
  newRequestId,
  SealedCredentialSchema,
  TunnelHeaders,
  writeErrorResponse,
  type Keyspace,
  type Logger,
  type SharedStore,
} from '@switchyard/shared';
import type { EnrolmentRepository } from './enrolment.js';
import { authenticateNode } from './node-auth.js';

/** Dependencies of createCredentialRoutes. */
export interface CredentialRoutesDeps {
  store: Pick<SharedStore, 'get' | 'set'>;
  keys: Pick<Keyspace, 'sealedCredential'>;
  enrolments: Pick<EnrolmentRepository, 'verify'>;
  log: Logger;
}

// A sealed record is a few hundred bytes and never more than MAX_SEALED_LENGTH; the JSON around it adds little.
const BODY_LIMIT = '32kb';

interface Locals {
  requestId?: unknown;
  nodeId?: string;
}

function requestIdOf(res: Response): string {
  const locals = res.locals as Locals;
  if (typeof locals.requestId !== 'string') locals.requestId = newRequestId();
  return locals.requestId as string;
}

// express.json signals client mistakes with `status` and `type` on plain errors.
function bodyParserError(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err) || !('status' in err)) return undefined;
  if (err.type === 'entity.parse.failed') return new AppError('invalid_json', 'Malformed JSON body');
  if (err.status === 413)
    return new AppError(
      'body_too_large',
      `The body is too large (a sealed copy is at most ${MAX_SEALED_LENGTH} characters)`,
    );
  return new AppError('bad_request', 'Unreadable request body');
}

/** What the handlers share: the deps, and the routes' child logger, made once with the router. */
interface RouteContext {
  deps: CredentialRoutesDeps;
  log: Logger;
}

/**
 * The node-facing routes of the sealed credential copy, to mount on the gateway's app (they match only CREDENTIAL_PATH).
 * Node token auth (authenticateNode) before any body is read; a node reads and writes only its own copy, at
 * keys.sealedCredential(nodeId). GET → 200 `{sealed}` or 404; PUT `{sealed}` → 204.
 * @example app.use(createCredentialRoutes({ store, keys, enrolments, log }));
 */
export function createCredentialRoutes(deps: CredentialRoutesDeps): Router {
  const router = express.Router();
  const ctx: RouteContext = { deps, log: deps.log.child({ component: 'credential-routes' }) };
  // Named functions, so Express's stack traces and DEBUG=router output name each handler.
  const authenticate = function authenticate(req: Request, res: Response, next: NextFunction): Promise<void> {
    return authenticateRequest(ctx, req, res, next);
  };
  const getSealed = function getSealed(req: Request, res: Response): Promise<void> {
    return getSealedCredential(ctx, req, res);
  };
  const putSealed = function putSealed(req: Request, res: Response): Promise<void> {
    return putSealedCredential(ctx, req, res);
  };
  // Four parameters, next unused: Express tells an error handler by its arity.
  const onError = function credentialRouteError(err: unknown, req: Request, res: Response, _next: NextFunction): void {
    credentialError(ctx, err, req, res);
  };
  router.get(CREDENTIAL_PATH, authenticate, getSealed);
  router.put(CREDENTIAL_PATH, authenticate, express.json({ limit: BODY_LIMIT }), putSealed);
  router.use(CREDENTIAL_PATH, onError);
  return router;
}

async function authenticateRequest(ctx: RouteContext, req: Request, res: Response, next: NextFunction): Promise<void> {
  let who;
  try {
    who = await authenticateNode(req.headers, ctx.deps.enrolments);
  } catch (err) {
    throw new AppError('unavailable', 'The node token cannot be checked right now; retry shortly.', {
      cause: err,
      retryAfterSec: 1,
    });
  }
  if (!who.ok) {
    const claimed = req.headers[TunnelHeaders.nodeId];
    ctx.log.warn('node credential request refused', {
      reason: who.reason,
      method: req.method,
      nodeId: typeof claimed === 'string' ? claimed.slice(0, 64) : undefined,
    });
    throw new AppError(
      'unauthenticated',
      'A node token (Authorization: Bearer syn-…) and its node id (x-switchyard-node-id) are required.',
    );
  }
  (res.locals as Locals).nodeId = who.nodeId;
  next();
}

function nodeIdOf(res: Response): string {
  return (res.locals as Locals).nodeId ?? '';
}

async function getSealedCredential(ctx: RouteContext, _req: Request, res: Response): Promise<void> {
  const sealed = await ctx.deps.store.get(ctx.deps.keys.sealedCredential(nodeIdOf(res)));
  if (sealed === null) throw new AppError('not_found', 'No sealed credential copy is stored for this node.');
  res.setHeader('cache-control', 'no-store');
  res.json({ sealed });
}

async function putSealedCredential(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const parsed = SealedCredentialSchema.safeParse(req.body);
  if (!parsed.success || !isSealedShape(parsed.data.sealed)) {
    throw new AppError(
      'bad_request',
      'Expected a JSON body {"sealed": "sy1.…"} (content-type: application/json) holding a sealed credential.',
    );
  }
  const nodeId = nodeIdOf(res);
  await ctx.deps.store.set(ctx.deps.keys.sealedCredential(nodeId), parsed.data.sealed);
  ctx.log.info('sealed credential copy stored', { nodeId, length: parsed.data.sealed.length });
  res.status(204).end();
}

function credentialError(ctx: RouteContext, err: unknown, req: Request, res: Response): void {
  // Anything but our own refusals is the store failing (Redis unreachable): the node retries a 503.
  const appErr =
    err instanceof AppError
      ? err
      : (bodyParserError(err) ??
        new AppError('unavailable', 'The credential store is unreachable right now; retry shortly.', {
          cause: err,
          retryAfterSec: 1,
        }));
  if (appErr.code === 'unavailable') {
    ctx.log.error('node credential request failed', {
      method: req.method,
      nodeId: (res.locals as Locals).nodeId,
      error: (appErr.cause as Error | undefined)?.message,
    });
  }
  writeErrorResponse(res, appErr, requestIdOf(res));
}
