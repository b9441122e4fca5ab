import { Router, type Request, type Response } from 'express';

/** What /ready checks. */
export interface Readiness {
  redis: boolean;
  availableNodes: number;
}

/** What the probe routes need. */
export interface ProbeDeps {
  readiness(): Promise<Readiness>;
  version: string;
  gitSha: string;
  /** True once SIGTERM arrived (none: never). */
  draining?(): boolean;
}

/**
 * Claude Code's connectivity probes (HEAD or GET on `/` and `/api/hello`), liveness (`/health`) and
 * readiness (`/ready`: Redis reachable and at least one node available). Once the gateway drains, both
 * `/health` and `/ready` answer 503 `draining`, so a health-checking proxy stops sending it new requests
 * while its streams finish.
 */
export function createProbeRoutes(deps: ProbeDeps): Router {
  const router = Router();
  const build = { version: deps.version, gitSha: deps.gitSha };
  const draining = () => deps.draining?.() === true;
  const hello = (_req: Request, res: Response) => {
    res.status(200).json({ status: 'ok', service: 'switchyard' });
  };
  router.get('/', hello);
  router.get('/api/hello', hello);
  router.get('/health', (_req, res) => {
    if (draining()) res.status(503).json({ status: 'draining', ...build });
    else res.status(200).json({ status: 'ok', ...build });
  });
  router.get('/ready', async (_req, res) => {
    if (draining()) {
      res.status(503).json({ status: 'draining', ...build });
      return;
    }
    const r = await deps.readiness();
    const ready = r.redis && r.availableNodes > 0;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not_ready',
      redis: r.redis ? 'ok' : 'unreachable',
      availableNodes: r.availableNodes,
    });
  });
  return router;
}
