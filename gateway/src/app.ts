import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Router } from 'express';
import type { Logger } from '@switchyard/shared';
import { createDashboardRouter } from './dashboard/index.js';
import { errorHandler, notFound } from './http/errors.js';
import { createProbeRoutes, type Readiness } from './http/probes.js';
import { createProxyRoute, type ProxyRouteDeps } from './http/proxy-routes.js';
import { openAiErrorBody } from './openai/openai-errors.js';
import { requestContext } from './http/request-context.js';

export interface AppDeps extends ProxyRouteDeps {
  /** The admin API, with the dashboard beside it, on this listener (none: the admin plane has a listener of its own, see createAdminApp). */
  adminRouter?: Router;
  /** The node-facing routes (the sealed credential copy), node token auth (none: not served). */
  nodeRoutes?: Router;
  readiness(): Promise<Readiness>;
  version: string;
  gitSha: string;
  /** True once the gateway drains: /health and /ready answer 503 `draining` (none: never). */
  draining?(): boolean;
  log: Logger;
  /** GET /metrics on this listener (none: metrics are off here or on a port of their own). */
  metricsHandler?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * The gateway's Express app, without listening (main.ts listens; tests drive it directly).
 * No body parser runs globally: the proxy routes read their body once, bounded, themselves.
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext());
  app.use(createProbeRoutes(deps));
  if (deps.metricsHandler) app.get('/metrics', deps.metricsHandler);
  if (deps.adminRouter) mountAdminPlane(app, deps.adminRouter, deps.log);
  if (deps.nodeRoutes) app.use(deps.nodeRoutes);
  app.post('/v1/messages', createProxyRoute(deps, 'messages'));
  // Its errors, the gateway's own included, are in the OpenAI envelope (docs/OPENAI.md).
  app.post('/v1/chat/completions', createProxyRoute(deps, 'chat_completions'), errorHandler(deps.log, openAiErrorBody));
  app.post('/v1/messages/count_tokens', createProxyRoute(deps, 'count_tokens'));
  app.get('/v1/models', createProxyRoute(deps, 'models'));
  app.use(notFound());
  app.use(errorHandler(deps.log));
  return app;
}

function mountAdminPlane(app: express.Express, adminRouter: Router, log: Logger): void {
  app.use('/admin', adminRouter);
  app.use('/dashboard', createDashboardRouter({ log }));
}

/**
 * The admin plane on a listener of its own (ADMIN_HOST:ADMIN_PORT): /admin (its OpenAPI document included)
 * and /dashboard, nothing else. The main listener then serves clients and nodes only, and the admin listener
 * can stay on loopback, reached over SSH.
 */
export function createAdminApp(deps: { adminRouter: Router; log: Logger }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext());
  mountAdminPlane(app, deps.adminRouter, deps.log);
  app.use(notFound());
  app.use(errorHandler(deps.log));
  return app;
}
