import type { NextFunction, Request, Response } from 'express';
import { newRequestId } from '@switchyard/shared';

/** What every handler finds in `res.locals`. */
export interface RequestLocals {
  requestId: string;
  /** performance.now() at arrival (for durations). */
  startedAt: number;
  /** Epoch ms at arrival (the time a usage job counts on). */
  receivedAt: number;
}

/** Gives each request its id (sent back as `request-id` on the gateway's own answers) and its start time. */
export function requestContext() {
  return function requestContextMiddleware(_req: Request, res: Response, next: NextFunction): void {
    const locals = res.locals as RequestLocals;
    locals.requestId = newRequestId();
    locals.startedAt = performance.now();
    locals.receivedAt = Date.now();
    next();
  };
}

export function localsOf(res: Response): RequestLocals {
  return res.locals as RequestLocals;
}
