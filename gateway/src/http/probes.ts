import { Router, type Request, type Response } from 'express';

/** What /ready checks. */
export interface Readiness {
  redis: boolean;
  availableNodes: number;
}

/**
 * Claude Code's connectivity probes (HEAD or GET on `/` and `/api/hello`), liveness (`/health`) and
 * readiness (`/ready`: Redis reachable and at least one node available).
 */
export function createProbeRoutes(deps: { readiness(): Promise<Readiness>; version: string; gitSha: string }): Router {
  const router = Router();
  const hello = (_req: Request, res: Response) => {
    res.status(200).json({ status: 'ok', service: 'switchyard' });
  };
  router.get('/', hello);
  router.get('/api/hello', hello);
  router.get('/health', (_req, res) => {
    res.status(200).json({ status: 'ok', version: deps.version, gitSha: deps.gitSha });
  });
  router.get('/ready', async (_req, res) => {
    const r = await deps.readiness();
    const ready = r.redis && r.availableNodes > 0;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', redis: r.redis ? 'ok' : 'unreachable', availableNodes: r.availableNodes });
  });
  return router;
}
