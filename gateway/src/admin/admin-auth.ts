import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError, NodeTokens, type Logger } from '@switchyard/shared';
import { isWellFormedGatewayKey } from '../keys/index.js';

const BEARER_RE = /^Bearer[ \t]+(\S+)[ \t]*$/i;
/** The shortest admin token accepted (the gateway's config demands the same). */
export const MIN_ADMIN_TOKEN_BYTES = 32;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The role a bearer secret's shape gives away: a node token (`syn-…`) and a gateway key (`sy-…`) are never admin tokens. */
function otherRole(token: string): 'node token' | 'gateway key' | undefined {
  if (NodeTokens.isWellFormed(token)) return 'node token';
  if (isWellFormedGatewayKey(token)) return 'gateway key';
  return undefined;
}

/**
 * Requires `Authorization: Bearer <adminToken>`. Both sides are hashed before a constant-time compare,
 * so neither the token's length nor a matching prefix shows in the timing. Roles never fall back to a stronger
 * one: an admin token shaped like a node token or a gateway key is refused at construction, so no secret handed
 * to a node or a user can ever open the admin API.
 */
export function adminAuth(adminToken: string, log: Logger) {
  if (Buffer.byteLength(adminToken, 'utf8') < MIN_ADMIN_TOKEN_BYTES) {
    throw new RangeError(`The admin token must be at least ${MIN_ADMIN_TOKEN_BYTES} bytes`);
  }
  const shapedAs = otherRole(adminToken);
  if (shapedAs !== undefined) throw new RangeError(`The admin token has the shape of a ${shapedAs}: choose another (e.g. openssl rand -hex 32)`);
  const expected = sha256(adminToken);
  return function adminAuthMiddleware(req: Request, _res: Response, next: NextFunction): void {
    const header = req.headers.authorization;
    const token = header === undefined ? undefined : BEARER_RE.exec(header)?.[1];
    const matches = timingSafeEqual(expected, sha256(token ?? ''));
    if (token !== undefined && matches) {
      next();
      return;
    }
    const role = token === undefined ? undefined : otherRole(token);
    log.warn('admin authentication failed', { method: req.method, path: req.path, ip: req.ip, presented: token !== undefined, ...(role === undefined ? {} : { role }) });
    let message = 'Invalid admin token';
    if (token === undefined) message = 'Missing admin token: send Authorization: Bearer <ADMIN_TOKEN>';
    else if (role !== undefined) message = `Invalid admin token: a ${role} is not an admin token`;
    next(new AppError('unauthenticated', message));
  };
}
