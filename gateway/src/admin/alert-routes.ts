// /admin/alerts: the alerts raised lately, newest first, as the usage worker recorded them (each alert once,
// however often it was raised). Read-only: the list is written by the worker (gateway/src/usage-worker/alerts).
import express, { type Request, type Response, type Router } from 'express';
import { AlertEventSchema, type AlertEvent, type Keyspace, type SharedStore } from '@switchyard/shared';

/** The answer of GET /admin/alerts. */
export interface AlertList {
  alerts: AlertEvent[];
}

export interface AlertRoutesDeps {
  store: Pick<SharedStore, 'lrange'>;
  keys: Pick<Keyspace, 'alertsRecent'>;
}

// An entry from another version or a torn write is skipped, not a 500 for the whole list.
function parseAlert(raw: string): AlertEvent | undefined {
  try {
    const parsed = AlertEventSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @example router.use(createAlertRoutes({ store, keys }));
 */
export function createAlertRoutes(deps: AlertRoutesDeps): Router {
  const router = express.Router();
  router.get('/alerts', async function getAlerts(_req: Request, res: Response): Promise<void> {
    const raws = await deps.store.lrange(deps.keys.alertsRecent(), 0, -1);
    const alerts = raws.map(parseAlert).filter((a): a is AlertEvent => a !== undefined);
    const body: AlertList = { alerts };
    res.json(body);
  });
  return router;
}
