import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError, type Logger } from '@switchyard/shared';

const BEARER_RE = /^Bearer[ \t]+(\S+)[ \t]*$/i;
/** The shortest admin token accepted (the gateway's config demands the same). */
export const MIN_ADMIN_TOKEN_BYTES = 32;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Requires `Authorization: Bearer <adminToken>`. Both sides are hashed before a constant-time compare,
 * so neither the token's length nor a matching prefix shows in the timing.
 */
export function adminAuth(adminToken: string, log: Logger) {
  if (Buffer.byteLength(adminToken, 'utf8') < MIN_ADMIN_TOKEN_BYTES) {
    throw new RangeError(`The admin token must be at least ${MIN_ADMIN_TOKEN_BYTES} bytes`);
  }
  const expected = sha256(adminToken);
  return function adminAuthMiddleware(req: Request, _res: Response, next: NextFunction): void {
    const header = req.headers.authorization;
    const token = header === undefined ? undefined : BEARER_RE.exec(header)?.[1];
    const matches = timingSafeEqual(expected, sha256(token ?? ''));
    if (token !== undefined && matches) {
      next();
      return;
    }
    log.warn('admin authentication failed', { method: req.method, path: req.path, ip: req.ip, presented: token !== undefined });
    next(new AppError('unauthenticated', token === undefined ? 'Missing admin token: send Authorization: Bearer <ADMIN_TOKEN>' : 'Invalid admin token'));
  };
}
