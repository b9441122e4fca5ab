// The fleet from GET /admin/nodes: one row per node with its account's state, limits, load and build.
import { formatDateTime, formatInt, formatPercent, formatSpan, h } from './dom.js';

/** A heartbeat older than this is shown as stale (the registry drops nodes well after it). */
const STALE_HEARTBEAT_MS = 10_000;

function utilization(window) {
  if (window?.utilization === undefined) return h('span', { class: 'muted' }, '–');
  const value = window.utilization;
  return [h('meter', { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: Math.min(1, value) }), ' ', h('span', {}, formatPercent(value))];
}

function until(label, at, serverNow) {
  return h('div', { title: formatDateTime(at) }, `${label} ${formatSpan(at - serverNow)}`);
}

function resets(node, serverNow) {
  const lines = [];
  if (node.state === 'limited' && node.limitedUntil !== undefined) lines.push(until('back in', node.limitedUntil, serverNow));
  for (const [family, at] of Object.entries(node.limitedFamilies ?? {})) {
    if (at > serverNow) lines.push(until(`${family} back in`, at, serverNow));
  }
  if (node.fiveHour?.resetAt !== undefined && node.fiveHour.resetAt > serverNow) lines.push(until('5h in', node.fiveHour.resetAt, serverNow));
  if (node.sevenDay?.resetAt !== undefined && node.sevenDay.resetAt > serverNow) lines.push(until('7d in', node.sevenDay.resetAt, serverNow));
  return lines.length > 0 ? lines : h('span', { class: 'muted' }, '–');
}

function stateBadges(node, serverNow) {
  const badges = [h('span', { class: `badge state-${node.state}` }, node.state.replace('_', ' '))];
  if (node.adminDrained) badges.push(' ', h('span', { class: 'badge admin-drained' }, 'drained by admin'));
  if (node.unreachableUntil !== undefined && node.unreachableUntil > serverNow) badges.push(' ', h('span', { class: 'badge unreachable' }, 'unreachable'));
  return badges;
}

/** "0.2.0 · def5678 on node-c; 0.1.0 · abc1234 on node-a, node-b", for the badge's tooltip. */
function buildsText(versions) {
  return versions.map((v) => `${v.version} · ${v.gitSha.slice(0, 7)} on ${v.nodes.join(', ')}`).join('; ');
}

/** A visible badge while the nodes run more than one build (a roll-out under way, or a stalled one). */
function mixedBadge(builds) {
  if (!builds?.mixed) return [];
  return [h('span', { class: 'badge warn', 'data-testid': 'mixed-versions', title: buildsText(builds.versions) }, `mixed versions (${builds.versions.length} builds)`)];
}

/**
 * Renders the fleet. `clock.skewMs` is the gateway's clock minus this browser's, so reset times read right
 * even when the two disagree. `builds` is { versions, mixed } as GET /admin/nodes groups them.
 */
export function renderFleet(els, nodes, clock, builds) {
  const serverNow = Date.now() + clock.skewMs;
  const sorted = [...nodes].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  const rows = sorted.map((node) => {
    const age = node.heartbeatAgeMs + (Date.now() - clock.fetchedAt);
    return h(
      'tr',
      { 'data-testid': 'fleet-row', 'data-node-id': node.nodeId, class: node.state === 'available' && !node.adminDrained ? '' : 'attention' },
      h('td', { 'data-field': 'nodeId' }, h('strong', {}, node.nodeId), h('span', { class: 'id' }, node.url)),
      h('td', { 'data-field': 'account' }, node.accountLabel ?? h('span', { class: 'muted' }, '–'), h('span', { class: 'id' }, node.accountKind === 'oauth' ? 'subscription' : 'API key')),
      h('td', { 'data-field': 'state' }, stateBadges(node, serverNow)),
      h('td', { 'data-field': 'fiveHour' }, utilization(node.fiveHour)),
      h('td', { 'data-field': 'sevenDay' }, utilization(node.sevenDay)),
      h('td', { 'data-field': 'resets' }, resets(node, serverNow)),
      h('td', { class: 'num', 'data-field': 'inFlight' }, formatInt(node.inFlight)),
      h('td', { 'data-field': 'version', title: node.gitSha }, `${node.version} · ${node.gitSha.slice(0, 7)}`),
      h('td', { class: `num${age > STALE_HEARTBEAT_MS ? ' stale' : ''}`, 'data-field': 'heartbeat', title: formatDateTime(node.heartbeatAt) }, `${formatSpan(age)} ago`),
    );
  });
  els.body.replaceChildren(...(rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No node has sent a heartbeat to this gateway'))]));
  const available = nodes.filter((n) => n.state === 'available' && !n.adminDrained).length;
  els.count.textContent = `${nodes.length} node${nodes.length === 1 ? '' : 's'} · ${available} serving`;
  els.versions.replaceChildren(...mixedBadge(builds));
}

/** The gateway's clock minus this browser's, read off a node's heartbeat (heartbeatAt + age = the gateway's now). */
export function clockOf(nodes, fetchedAt) {
  const node = nodes[0];
  return { fetchedAt, skewMs: node === undefined ? 0 : node.heartbeatAt + node.heartbeatAgeMs - fetchedAt };
}
