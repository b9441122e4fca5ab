// The dashboard's controller: sign-in with the admin or the read-only token (GET /admin/session names the role), then
// poll the admin API every few seconds (paused while the tab is hidden) and redraw the fleet, the usage charts, the
// cost and cache panels, the recent requests and the recent events. Controls that write (a node's Drain/Resume) exist only for the admin role: the read-only role is
// never shown a button the gateway would refuse.
import { ApiError, getRole, loadBoard, postAdmin } from './api.js';
import { renderCache } from './cache.js';
import { renderCost } from './cost.js';
import { formatSpan } from './dom.js';
import { renderEvents } from './events.js';
import { clockOf, renderFleet } from './fleet.js';
import { renderRecent } from './recent.js';
import { keyNames, renderUsage } from './usage.js';

const TOKEN_KEY = 'switchyard.adminToken';
const params = new URLSearchParams(location.search);
/** Seconds between refreshes: 5, or ?refresh=N (at least 1). */
const REFRESH_MS = Math.max(1, Number(params.get('refresh')) || 5) * 1000;
const RECENT_LIMIT = 25;
const DAY_MS = 86_400_000;

const $ = (id) => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
};

const ui = {
  signin: $('signin'),
  form: $('signin-form'),
  token: $('token'),
  signinButton: $('signin-button'),
  signinError: $('signin-error'),
  board: $('board'),
  session: $('session'),
  updated: $('updated'),
  role: $('role'),
  signout: $('signout'),
  banner: $('banner'),
  range: $('range'),
  fleet: { body: $('fleet-body'), count: $('fleet-count'), versions: $('fleet-versions') },
  usage: {
    totals: $('totals'),
    rangeText: $('range-text'),
    day: $('chart-day'),
    key: $('chart-key'),
    model: $('chart-model'),
  },
  recent: { body: $('recent-body'), count: $('recent-count') },
  cost: { tiles: $('cost-tiles'), chart: $('chart-cost') },
  cache: { tiles: $('cache-tiles'), nodes: $('cache-nodes') },
  events: { body: $('events-body'), count: $('events-count') },
};

/** How the header names each role. */
const ROLE_LABELS = {
  admin: { text: 'admin', title: 'Signed in with ADMIN_TOKEN: every action' },
  read: { text: 'read-only', title: 'Signed in with ADMIN_READ_TOKEN: the figures, no changes' },
};

const session = {
  token: null,
  /** 'admin' or 'read' once GET /admin/session answered; until then the page offers no control that writes. */
  role: undefined,
  /** Bumped on sign-out, so an answer to an older session's request is dropped. */
  generation: 0,
  timer: undefined,
  inFlight: false,
  again: false,
  lastOkAt: undefined,
  lastError: undefined,
  refreshes: 0,
  /** The gateway's UTC day, from the last usage report. */
  serverToday: undefined,
};

function show(el, visible) {
  el.hidden = !visible;
}

function signinMessage(err) {
  if (err instanceof ApiError && err.kind === 'unauthorized') {
    return 'The gateway refused this admin token (401). Use the ADMIN_TOKEN or ADMIN_READ_TOKEN the gateway was started with.';
  }
  if (err instanceof ApiError && err.kind === 'throttled') return `${err.message}.`;
  if (err instanceof ApiError && err.kind === 'unreachable')
    return `Cannot reach the gateway at ${location.origin}: is it running?`;
  return err instanceof Error ? err.message : String(err);
}

function showSigninError(message) {
  ui.signinError.textContent = message ?? '';
  show(ui.signinError, Boolean(message));
}

// Only `from`: the API ends the range today on its own clock, so a browser a day off still asks for a valid range.
function rangeQuery() {
  const days = Number(ui.range.value);
  if (days === 7 || session.serverToday === undefined) return undefined;
  const from = new Date(Date.parse(`${session.serverToday}T00:00:00Z`) - (days - 1) * DAY_MS)
    .toISOString()
    .slice(0, 10);
  return { from };
}

function tick() {
  if (session.token === null) return;
  if (document.hidden) {
    ui.updated.textContent = 'paused while this tab is hidden';
    return;
  }
  const ago = session.lastOkAt === undefined ? 'loading…' : `updated ${formatSpan(Date.now() - session.lastOkAt)} ago`;
  ui.updated.textContent = session.lastError === undefined ? ago : `update failed · ${ago}`;
}

function schedule() {
  clearTimeout(session.timer);
  if (session.token !== null && !document.hidden) session.timer = setTimeout(() => void refresh(), REFRESH_MS);
}

function canWrite() {
  return session.role === 'admin';
}

/** Shows who signed in, and shows the static write-only parts of the page (e.g. the fleet's Admin column) to the admin role only. */
function applyRole(role) {
  session.role = role;
  const label = role === undefined ? undefined : ROLE_LABELS[role];
  ui.role.textContent = label?.text ?? '';
  ui.role.title = label?.title ?? '';
  if (role === undefined) delete ui.role.dataset.role;
  else ui.role.dataset.role = role;
  for (const el of document.querySelectorAll('thead [data-write]')) show(el, canWrite());
}

function render(data, fetchedAt) {
  renderFleet(ui.fleet, { nodes: data.nodes, enrolled: data.enrolled }, clockOf(data.nodes, fetchedAt), data.builds, {
    canWrite: canWrite(),
  });
  renderUsage(ui.usage, data);
  renderCost(ui.cost, data);
  renderCache(ui.cache, data);
  renderRecent(ui.recent, data.recent, keyNames(data.byKey));
  renderEvents(ui.events, data.alerts);
  session.serverToday = data.byDay.to;
}

async function refresh() {
  if (session.token === null) return;
  if (session.inFlight) {
    session.again = true;
    return;
  }
  session.inFlight = true;
  const generation = session.generation;
  clearTimeout(session.timer);
  try {
    // A session restored from this tab's storage learns its role here, before anything is drawn.
    if (session.role === undefined) {
      const role = await getRole(session.token);
      if (generation !== session.generation) return;
      applyRole(role);
    }
    const range = rangeQuery();
    const data = await loadBoard(session.token, {
      recentLimit: RECENT_LIMIT,
      ...(range === undefined ? {} : { range }),
    });
    if (generation !== session.generation) return;
    render(data, Date.now());
    session.lastOkAt = Date.now();
    session.lastError = undefined;
    session.refreshes += 1;
    ui.board.dataset.refreshes = String(session.refreshes);
    show(ui.banner, false);
  } catch (err) {
    if (generation !== session.generation) return;
    if (err instanceof ApiError && err.kind === 'unauthorized') {
      signOut('The gateway no longer accepts this admin token (401). Sign in again.');
      return;
    }
    session.lastError = err instanceof Error ? err.message : String(err);
    const since = session.lastOkAt === undefined ? '' : ' The figures below are from the last successful update.';
    ui.banner.textContent = `${session.lastError}. Retrying every ${REFRESH_MS / 1000}s.${since}`;
    show(ui.banner, true);
  } finally {
    if (generation === session.generation) {
      session.inFlight = false;
      if (session.again) {
        session.again = false;
        void refresh();
      } else {
        schedule();
      }
      tick();
    }
  }
}

function signIn(token, role) {
  session.token = token;
  applyRole(role);
  show(ui.signin, false);
  show(ui.board, true);
  show(ui.session, true);
  showSigninError(undefined);
  tick();
  void refresh();
}

function signOut(message) {
  session.generation += 1;
  session.token = null;
  applyRole(undefined);
  session.inFlight = false;
  session.again = false;
  session.lastOkAt = undefined;
  session.lastError = undefined;
  clearTimeout(session.timer);
  sessionStorage.removeItem(TOKEN_KEY);
  const drawn = [
    ui.fleet.body,
    ui.fleet.versions,
    ui.recent.body,
    ui.usage.totals,
    ui.usage.day,
    ui.usage.key,
    ui.usage.model,
    ui.cost.tiles,
    ui.cost.chart,
    ui.cache.tiles,
    ui.cache.nodes,
    ui.events.body,
  ];
  for (const el of drawn) el.replaceChildren();
  for (const el of [ui.fleet.count, ui.recent.count, ui.events.count, ui.usage.rangeText, ui.updated])
    el.textContent = '';
  delete ui.board.dataset.refreshes;
  session.refreshes = 0;
  show(ui.board, false);
  show(ui.session, false);
  show(ui.banner, false);
  show(ui.signin, true);
  showSigninError(message);
  ui.token.focus();
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.token.value.trim();
  if (token === '') {
    showSigninError('Enter the admin token.');
    return;
  }
  ui.signinButton.disabled = true;
  showSigninError(undefined);
  getRole(token)
    .then((role) => {
      sessionStorage.setItem(TOKEN_KEY, token);
      ui.token.value = '';
      signIn(token, role);
    })
    .catch((err) => showSigninError(signinMessage(err)))
    .finally(() => {
      ui.signinButton.disabled = false;
    });
});

ui.signout.addEventListener('click', () => signOut(undefined));
// A node's Drain/Resume button (rendered for the admin role only): one POST, then a redraw from the gateway's answer.
ui.fleet.body.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-action]') : null;
  if (button === null || !canWrite() || session.token === null) return;
  const { action, nodeId } = button.dataset;
  if ((action !== 'drain' && action !== 'resume') || nodeId === undefined) return;
  button.disabled = true;
  const generation = session.generation;
  postAdmin(`nodes/${encodeURIComponent(nodeId)}/${action}`, session.token)
    .then(() => refresh())
    .catch((err) => {
      if (generation !== session.generation) return;
      ui.banner.textContent = `Could not ${action} ${nodeId}: ${err instanceof Error ? err.message : String(err)}`;
      show(ui.banner, true);
      button.disabled = false;
    });
});
ui.range.addEventListener('change', () => void refresh());
document.addEventListener('visibilitychange', () => {
  if (document.hidden) clearTimeout(session.timer);
  else void refresh();
  tick();
});
setInterval(tick, 1000);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved !== null && saved !== '') signIn(saved, undefined);
else ui.token.focus();
