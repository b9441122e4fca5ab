import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError, bearerToken, NodeTokens } from '@switchyard/shared';
import { isWellFormedGatewayKey } from '../keys/index.js';
import type { AuthThrottle } from './auth-throttle.js';

/** The shortest admin token accepted (the gateway's config demands the same). */
export const MIN_ADMIN_TOKEN_BYTES = 32;

/** Who signed in: `admin` (ADMIN_TOKEN) may do everything, `read` (ADMIN_READ_TOKEN) every GET and HEAD. */
export type AdminRole = 'admin' | 'read';

/** The methods the read-only role may use: they change nothing. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/** Options of adminAuth. */
export interface AdminAuthOptions {
  /** ADMIN_TOKEN: at least 32 bytes. */
  adminToken: string;
  /** ADMIN_READ_TOKEN: at least 32 bytes and not the admin token; none = no read-only role. */
  readToken?: string;
  /** Failed authentications per source address (it logs them). */
  throttle: AuthThrottle;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The role a bearer secret's shape gives away: a node token (`syn-…`) and a gateway key (`sy-…`) are never admin tokens. */
function otherRole(token: string): 'node token' | 'gateway key' | undefined {
  if (NodeTokens.isWellFormed(token)) return 'node token';
  if (isWellFormedGatewayKey(token)) return 'gateway key';
  return undefined;
}

/** Refuses, at construction, a token no operator should hold: too short, or shaped like another role's secret. */
function checkToken(label: string, token: string): void {
  if (Buffer.byteLength(token, 'utf8') < MIN_ADMIN_TOKEN_BYTES) {
    throw new RangeError(`The ${label} must be at least ${MIN_ADMIN_TOKEN_BYTES} bytes`);
  }
  const shapedAs = otherRole(token);
  if (shapedAs !== undefined)
    throw new RangeError(`The ${label} has the shape of a ${shapedAs}: choose another (e.g. openssl rand -hex 32)`);
}

/** The role adminAuth gave this request; undefined before it ran (or on a route it does not guard). */
export function adminRoleOf(res: Response): AdminRole | undefined {
  const role = (res.locals as { adminRole?: unknown }).adminRole;
  return role === 'admin' || role === 'read' ? role : undefined;
}

function unauthenticated(token: string | undefined): AppError {
  if (token === undefined)
    return new AppError('unauthenticated', 'Missing admin token: send Authorization: Bearer <ADMIN_TOKEN>');
  const role = otherRole(token);
  return new AppError(
    'unauthenticated',
    role === undefined ? 'Invalid admin token' : `Invalid admin token: a ${role} is not an admin token`,
  );
}

/**
 * Requires `Authorization: Bearer <ADMIN_TOKEN | ADMIN_READ_TOKEN>` and sets `res.locals.adminRole` (read it with
 * adminRoleOf). The read-only token may GET and HEAD; any other method with it is a 403 naming what it tried.
 *
 * The presented token is hashed once and compared in constant time against both tokens' digests, so neither its
 * length, a matching prefix nor which token it nearly is shows in the timing. Roles never fall back to a stronger one:
 * a token shaped like a node token or a gateway key is refused at construction, so no secret handed to a node or a
 * user can ever open the admin API.
 *
 * Throttled per source address (the socket's, never a forwarding header: nothing proxies the admin listener):
 * an address past its failed-authentication limit is answered 429 with `retry-after` until its window ends,
 * before its token is even looked at. Only a bearer token that matched no role counts as a failure: a request
 * without one guesses nothing.
 */
export function adminAuth(opts: AdminAuthOptions) {
  checkToken('admin token', opts.adminToken);
  if (opts.readToken !== undefined) {
    checkToken('read-only admin token', opts.readToken);
    if (opts.readToken === opts.adminToken)
      throw new RangeError('The read-only admin token must differ from the admin token');
  }
  const adminDigest = sha256(opts.adminToken);
  // Without a read-only token, its digest is one no presented token can hash to in practice (it is of a token refused above).
  const readDigest = sha256(opts.readToken ?? '');
  const hasReadRole = opts.readToken !== undefined;
  const { throttle } = opts;

  return function adminAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    const address = req.socket.remoteAddress ?? 'unknown';
    const blockedMs = throttle.blockedFor(address);
    if (blockedMs !== undefined) {
      const seconds = Math.max(1, Math.ceil(blockedMs / 1000));
      next(
        new AppError(
          'rate_limited',
          `Too many failed admin authentications from this address: try again in ${seconds} s`,
          { retryAfterSec: seconds },
        ),
      );
      return;
    }
    const token = bearerToken(req.headers.authorization);
    const presented = sha256(token ?? '');
    // Both compares always run: which one matched does not show in the timing.
    const isAdmin = timingSafeEqual(adminDigest, presented);
    const isRead = timingSafeEqual(readDigest, presented) && hasReadRole;
    if (token !== undefined && isAdmin) {
      res.locals.adminRole = 'admin' satisfies AdminRole;
      next();
      return;
    }
    if (token !== undefined && isRead) {
      res.locals.adminRole = 'read' satisfies AdminRole;
      if (READ_METHODS.has(req.method)) {
        next();
        return;
      }
      next(
        new AppError(
          'forbidden',
          `This token is read-only (ADMIN_READ_TOKEN): ${req.method} ${req.baseUrl}${req.path} needs the admin token (ADMIN_TOKEN)`,
        ),
      );
      return;
    }
    if (token !== undefined) throttle.recordFailure(address);
    next(unauthenticated(token));
  };
}
