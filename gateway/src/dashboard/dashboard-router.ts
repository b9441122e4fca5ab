// /dashboard: the operator's page, served as static files from gateway/public/dashboard. The files carry no
// data and need no auth; every figure the page shows comes from the admin API, called with the token the operator
// signed in with (the admin token, or the read-only one: the page then offers no control that writes).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AppError, type Logger } from '@switchyard/shared';

/**
 * Where the page's files live: outside src, so the same relative path works from gateway/src/dashboard (tsx)
 * and gateway/dist/dashboard (build).
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../public/dashboard/', import.meta.url));

/** The content types the dashboard serves; files with other extensions are not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Same origin only, no inline script or style: the page's data is rendered as text nodes, and a script that
 * slipped into it still could not run, load anything or send the token elsewhere. form-action 'none' keeps the
 * sign-in form from ever submitting the token in a URL, should the script fail to load.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** Options of createDashboardRouter. */
export interface DashboardRouterOptions {
  /** The directory to serve (defaults to DASHBOARD_DIR). */
  dir?: string;
  log?: Logger;
}

// Reads the page once: a few small files. A request can only name a file in this table, so no path a client
// sends ('..', encoded slashes, dotfiles) ever reaches the file system.
function loadFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        walk(path);
        continue;
      }
      const type = CONTENT_TYPES[extname(entry.name).toLowerCase()];
      if (!entry.isFile() || type === undefined) continue;
      const body = readFileSync(path);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      files.set(`/${relative(dir, path).split(sep).join('/')}`, { body, type, etag });
    }
  };
  walk(dir);
  return files;
}

/**
 * The dashboard's static files, to mount at `/dashboard`: `/dashboard` redirects to `/dashboard/` (so the page's
 * relative URLs resolve), `/dashboard/` is index.html; every answer carries a strict CSP and revalidates (ETag).
 * Unknown files are a 404 in the Anthropic envelope, from the app's error handler.
 * @example app.use('/dashboard', createDashboardRouter({ log }));
 */
export function createDashboardRouter(opts: DashboardRouterOptions = {}): Router {
  const dir = opts.dir ?? DASHBOARD_DIR;
  let files: Map<string, StaticFile>;
  try {
    files = loadFiles(dir);
  } catch (err) {
    files = new Map();
    opts.log?.warn('dashboard files not found; /dashboard will answer 404', { dir, err });
  }
  const router = express.Router();

  router.use(function serveDashboard(req: Request, res: Response, next: NextFunction): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    res.setHeader('content-security-policy', DASHBOARD_CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    const [pathname = '', query] = splitQuery(req.originalUrl);
    if (req.path === '/' && !pathname.endsWith('/')) {
      // To the mount path this router matched, never to a location built from what the client sent.
      res.redirect(301, `${req.baseUrl}/${query === undefined ? '' : `?${query}`}`);
      return;
    }
    const file = files.get(req.path === '/' ? '/index.html' : req.path);
    if (file === undefined) {
      next(new AppError('not_found', `Not found: ${req.method} /dashboard${req.path}`));
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('etag', file.etag);
    if (req.headers['if-none-match'] === file.etag) {
      res.status(304).end();
      return;
    }
    res.setHeader('content-type', file.type);
    res.setHeader('content-length', file.body.length);
    res.status(200).end(req.method === 'HEAD' ? undefined : file.body);
  });

  return router;
}

function splitQuery(url: string): [string, string | undefined] {
  const at = url.indexOf('?');
  return at < 0 ? [url, undefined] : [url.slice(0, at), url.slice(at + 1)];
}
