// The admin API, called from the page with the admin token. The base is relative to the page, so the
// dashboard works behind a proxy that mounts the gateway under a path prefix.

const ADMIN_BASE = new URL('../admin/', document.baseURI);

/** Why an admin call failed: `unauthorized` (401), `unreachable` (no answer) or `http` (another status). */
export class ApiError extends Error {
  constructor(kind, status, message) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
  }
}

/** GET an admin route (`nodes`, `usage?by=day`, …) as JSON, or throw an ApiError. */
export async function getAdmin(path, token) {
  let res;
  try {
    res = await fetch(new URL(path, ADMIN_BASE), {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError('unreachable', 0, `Cannot reach the gateway at ${ADMIN_BASE.origin}`);
  }
  if (res.status === 401) throw new ApiError('unauthorized', 401, 'The gateway refused this admin token (401)');
  if (!res.ok) {
    const detail = await res
      .json()
      .then((body) => body?.error?.message)
      .catch(() => undefined);
    throw new ApiError('http', res.status, `The gateway answered ${res.status}${typeof detail === 'string' ? `: ${detail}` : ''}`);
  }
  try {
    return await res.json();
  } catch {
    throw new ApiError('http', res.status, 'The gateway answered with something that is not JSON');
  }
}

/** Everything the page shows, fetched in parallel. `range` is { from, to } or undefined for the API's default. */
export async function loadBoard(token, { range, recentLimit }) {
  const span = range === undefined ? '' : `&from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;
  const [nodes, byDay, byKey, byModel, recent] = await Promise.all([
    getAdmin('nodes', token),
    getAdmin(`usage?by=day${span}`, token),
    getAdmin(`usage?by=key${span}`, token),
    getAdmin(`usage?by=model${span}`, token),
    getAdmin(`usage/recent?limit=${recentLimit}`, token),
  ]);
  const builds = { versions: nodes.versions ?? [], mixed: nodes.mixedVersions === true };
  return { nodes: nodes.nodes ?? [], enrolled: nodes.enrolled, builds, byDay, byKey, byModel, recent: recent.requests ?? [] };
}
