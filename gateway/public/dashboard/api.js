// The admin API, called from the page with the token it was signed in with. The base is relative to the page, so the
// dashboard works behind a proxy that mounts the gateway under a path prefix.

const ADMIN_BASE = new URL('../admin/', document.baseURI);

/**
 * Why an admin call failed: `unauthorized` (401), `forbidden` (403: the read-only token tried to write),
 * `throttled` (429: too many wrong tokens from this address), `unreachable` (no answer) or `http` (another status).
 */
export class ApiError extends Error {
  constructor(kind, status, message) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
  }
}

async function errorMessage(res) {
  return res
    .json()
    .then((body) => body?.error?.message)
    .catch(() => undefined);
}

/** Calls an admin route (`nodes`, `usage?by=day`, `nodes/x/drain`, …) and answers its JSON, or throws an ApiError. */
async function callAdmin(method, path, token) {
  let res;
  try {
    res = await fetch(new URL(path, ADMIN_BASE), {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError('unreachable', 0, `Cannot reach the gateway at ${ADMIN_BASE.origin}`);
  }
  if (res.status === 401) throw new ApiError('unauthorized', 401, 'The gateway refused this admin token (401)');
  if (res.status === 429) {
    const seconds = Number(res.headers.get('retry-after'));
    const wait = Number.isFinite(seconds) && seconds > 0 ? `${seconds} s` : 'a while';
    throw new ApiError(
      'throttled',
      429,
      `Too many wrong admin tokens from this address: the gateway refuses it for ${wait}`,
    );
  }
  if (!res.ok) {
    const detail = await errorMessage(res);
    const kind = res.status === 403 ? 'forbidden' : 'http';
    throw new ApiError(
      kind,
      res.status,
      `The gateway answered ${res.status}${typeof detail === 'string' ? `: ${detail}` : ''}`,
    );
  }
  try {
    return await res.json();
  } catch {
    throw new ApiError('http', res.status, 'The gateway answered with something that is not JSON');
  }
}

/** GET an admin route as JSON, or throw an ApiError. */
export function getAdmin(path, token) {
  return callAdmin('GET', path, token);
}

/** POST to an admin route that takes no body (drain, resume), or throw an ApiError. Only the admin role may. */
export function postAdmin(path, token) {
  return callAdmin('POST', path, token);
}

/** Who the token signs in as: 'admin' or 'read' (GET /admin/session). */
export async function getRole(token) {
  const { role } = await getAdmin('session', token);
  if (role !== 'admin' && role !== 'read') throw new ApiError('http', 200, 'The gateway named no role for this token');
  return role;
}

/**
 * Whether this gateway serves GET /admin/alerts, from its OpenAPI document (public, no token): asked once per page
 * load, so a gateway without the route is never sent a request whose 404 the browser would log on every refresh.
 */
let alertsRoute;
function hasAlertsRoute() {
  alertsRoute ??= fetch(new URL('openapi.json', ADMIN_BASE), { cache: 'no-store', credentials: 'omit' })
    .then((res) => (res.ok ? res.json() : undefined))
    .then((doc) => doc?.paths?.['/admin/alerts']?.get !== undefined)
    .catch(() => {
      alertsRoute = undefined; // unknown: ask again next time
      return false;
    });
  return alertsRoute;
}

/** GET /admin/alerts: the recent alert events, newest first; null from a gateway that has no such route. */
async function getAlerts(token) {
  if (!(await hasAlertsRoute())) return null;
  try {
    const { alerts } = await getAdmin('alerts', token);
    return Array.isArray(alerts) ? alerts : [];
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** Everything the page shows, fetched in parallel. `range` is { from, to } or undefined for the API's default. */
export async function loadBoard(token, { range, recentLimit }) {
  const span =
    range === undefined
      ? ''
      : `&from=${encodeURIComponent(range.from)}${range.to === undefined ? '' : `&to=${encodeURIComponent(range.to)}`}`;
  const [nodes, byDay, byKey, byModel, byNode, recent, alerts] = await Promise.all([
    getAdmin('nodes', token),
    getAdmin(`usage?by=day${span}`, token),
    getAdmin(`usage?by=key${span}`, token),
    getAdmin(`usage?by=model${span}`, token),
    getAdmin(`usage?by=node${span}`, token),
    getAdmin(`usage/recent?limit=${recentLimit}`, token),
    getAlerts(token),
  ]);
  const builds = { versions: nodes.versions ?? [], mixed: nodes.mixedVersions === true };
  return {
    nodes: nodes.nodes ?? [],
    enrolled: nodes.enrolled,
    builds,
    byDay,
    byKey,
    byModel,
    byNode,
    recent: recent.requests ?? [],
    alerts,
  };
}
