// /admin/session: who signed in, so the dashboard and the CLI can show the role and offer only what it may do.
import express, { type Request, type Response, type Router } from 'express';
import { AppError } from '@switchyard/shared';
import { adminRoleOf, type AdminRole } from './admin-auth.js';

/** GET /admin/session. */
export interface AdminSession {
  role: AdminRole;
}

/** The session route; mount behind adminAuth, which sets the role it answers. */
export function createSessionRoutes(): Router {
  const router = express.Router();
  router.get('/session', function getSession(_req: Request, res: Response): void {
    const role = adminRoleOf(res);
    // adminAuth runs before every route of the admin router: without a role this route was mounted outside it.
    if (role === undefined)
      throw new AppError('internal', 'The session route was reached without admin authentication');
    res.setHeader('cache-control', 'no-store');
    res.json({ role } satisfies AdminSession);
  });
  return router;
}
