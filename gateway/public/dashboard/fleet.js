// The fleet from GET /admin/nodes: one row per node, enrolled or connected. A connected node shows its account's
// state, limits, load and build; an enrolled node that has no tunnel to this gateway shows as offline. Signed in as
// admin, each row has a Drain or Resume button; the read-only role gets no such cell at all. Each account's quota
// foresight (docs/FORESIGHT.md) shows under its reset times: when it runs out at its recent burn, or that it lasts.
import { formatDateTime, formatInt, formatPercent, formatSpan, h } from './dom.js';

/** A state report older than this is shown as stale (nodes report at least every 5 s over their tunnel). */
const STALE_REPORT_MS = 10_000;

function utilization(window) {
  if (window?.utilization === undefined) return h('span', { class: 'muted' }, '–');
  const value = window.utilization;
  return [
    h('meter', { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: Math.min(1, value) }),
    ' ',
    h('span', {}, formatPercent(value)),
  ];
}

function until(label, at, serverNow) {
  return h('div', { title: formatDateTime(at) }, `${label} ${formatSpan(at - serverNow)}`);
}

const WINDOW_NAMES = { fiveHour: '5h', sevenDay: '7d' };

/** "5h +12.5%/h, 7d +0.4%/h": each window's recent burn. */
function burnText(foresight) {
  return Object.entries(WINDOW_NAMES)
    .filter(([name]) => foresight[name] !== undefined)
    .map(([name, label]) => `${label} +${(foresight[name].burnPerHour * 100).toFixed(1)}%/h`)
    .join(', ');
}

/** When the account runs out at its recent burn; nothing while no window is known (or from a gateway without foresight). */
function runsOut(node, serverNow) {
  const foresight = node.foresight;
  if (foresight === null) return h('div', { class: 'muted', 'data-field': 'runsOut' }, 'no 5h/7d windows (API key)');
  if (foresight === undefined || (foresight.fiveHour === undefined && foresight.sevenDay === undefined))
    return undefined;
  if (foresight.exhaustsAt === null)
    return h(
      'div',
      { class: 'muted', 'data-field': 'runsOut', title: `burn: ${burnText(foresight)}` },
      'lasts until its resets',
    );
  const window = foresight.fiveHour?.exhaustsAt === foresight.exhaustsAt ? '5h' : '7d';
  const when =
    foresight.exhaustsAt <= serverNow
      ? `${window} out now`
      : `${window} runs out in ${formatSpan(foresight.exhaustsAt - serverNow)}`;
  return h(
    'div',
    {
      class: 'runs-out',
      'data-field': 'runsOut',
      title: `${formatDateTime(foresight.exhaustsAt)} · burn: ${burnText(foresight)}`,
    },
    when,
  );
}

function resets(node, serverNow) {
  const lines = [];
  if (node.state === 'limited' && node.limitedUntil !== undefined)
    lines.push(until('back in', node.limitedUntil, serverNow));
  for (const [family, at] of Object.entries(node.limitedFamilies ?? {})) {
    if (at > serverNow) lines.push(until(`${family} back in`, at, serverNow));
  }
  if (node.fiveHour?.resetAt !== undefined && node.fiveHour.resetAt > serverNow)
    lines.push(until('5h in', node.fiveHour.resetAt, serverNow));
  if (node.sevenDay?.resetAt !== undefined && node.sevenDay.resetAt > serverNow)
    lines.push(until('7d in', node.sevenDay.resetAt, serverNow));
  const outlook = runsOut(node, serverNow);
  if (outlook !== undefined) lines.push(outlook);
  return lines.length > 0 ? lines : h('span', { class: 'muted' }, '–');
}

function stateBadges(node, serverNow) {
  const badges = [h('span', { class: `badge state-${node.state}` }, node.state.replace('_', ' '))];
  if (node.adminDrained) badges.push(' ', h('span', { class: 'badge admin-drained' }, 'drained by admin'));
  if (node.unreachableUntil !== undefined && node.unreachableUntil > serverNow)
    badges.push(' ', h('span', { class: 'badge unreachable' }, 'unreachable'));
  return badges;
}

/** "0.2.0 · def5678 on node-c; 0.1.0 · abc1234 on node-a, node-b", for the badge's tooltip. */
function buildsText(versions) {
  return versions.map((v) => `${v.version} · ${v.gitSha.slice(0, 7)} on ${v.nodes.join(', ')}`).join('; ');
}

/** A visible badge while the nodes run more than one build (a roll-out under way, or a stalled one). */
function mixedBadge(builds) {
  if (!builds?.mixed) return [];
  return [
    h(
      'span',
      { class: 'badge warn', 'data-testid': 'mixed-versions', title: buildsText(builds.versions) },
      `mixed versions (${builds.versions.length} builds)`,
    ),
  ];
}

function nodeCell(nodeId, enrolment, enrolledKnown) {
  const under = enrolment?.label ?? (enrolledKnown && enrolment === undefined ? 'not enrolled' : undefined);
  return h(
    'td',
    { 'data-field': 'nodeId' },
    h('strong', {}, nodeId),
    under === undefined ? undefined : h('span', { class: 'id' }, under),
  );
}

/** The row's control, for the admin role only: drain a node that is not drained, resume one that is. */
function actionsCell(nodeId, drained, canWrite) {
  if (!canWrite) return undefined;
  const action = drained ? 'resume' : 'drain';
  return h(
    'td',
    { 'data-field': 'actions', 'data-write': true },
    h(
      'button',
      {
        type: 'button',
        class: 'small',
        'data-action': action,
        'data-node-id': nodeId,
        'data-testid': `${action}-button`,
      },
      drained ? 'Resume' : 'Drain',
    ),
  );
}

function connectedRow(node, enrolment, enrolledKnown, clock, serverNow, canWrite) {
  const age = node.heartbeatAgeMs + (Date.now() - clock.fetchedAt);
  return h(
    'tr',
    {
      'data-testid': 'fleet-row',
      'data-node-id': node.nodeId,
      class: node.state === 'available' && !node.adminDrained ? '' : 'attention',
    },
    nodeCell(node.nodeId, enrolment, enrolledKnown),
    h(
      'td',
      { 'data-field': 'account' },
      node.accountLabel ?? h('span', { class: 'muted' }, '–'),
      h('span', { class: 'id' }, node.accountKind === 'oauth' ? 'subscription' : 'API key'),
    ),
    h('td', { 'data-field': 'state' }, stateBadges(node, serverNow)),
    h('td', { 'data-field': 'fiveHour' }, utilization(node.fiveHour)),
    h('td', { 'data-field': 'sevenDay' }, utilization(node.sevenDay)),
    h('td', { 'data-field': 'resets' }, resets(node, serverNow)),
    h('td', { class: 'num', 'data-field': 'inFlight' }, formatInt(node.inFlight)),
    h('td', { 'data-field': 'version', title: node.gitSha }, `${node.version} · ${node.gitSha.slice(0, 7)}`),
    h(
      'td',
      {
        class: `num${age > STALE_REPORT_MS ? ' stale' : ''}`,
        'data-field': 'heartbeat',
        title: formatDateTime(node.heartbeatAt),
      },
      `${formatSpan(age)} ago`,
    ),
    // The enrolment reads the drain switch itself; the connected node's flag follows with the gateway's next fleet snapshot.
    actionsCell(node.nodeId, enrolment?.adminDrained ?? node.adminDrained, canWrite),
  );
}

/** An enrolled node with no tunnel to this gateway: not started, not logged in to the gateway yet, or gone. */
function offlineRow(enrolment, canWrite) {
  const dash = () => h('span', { class: 'muted' }, '–');
  const badges = [h('span', { class: 'badge state-offline' }, 'offline')];
  if (enrolment.adminDrained) badges.push(' ', h('span', { class: 'badge admin-drained' }, 'drained by admin'));
  return h(
    'tr',
    { 'data-testid': 'fleet-row', 'data-node-id': enrolment.nodeId, class: 'attention offline' },
    nodeCell(enrolment.nodeId, enrolment, true),
    h('td', { 'data-field': 'account' }, dash()),
    h(
      'td',
      { 'data-field': 'state', title: `Enrolled ${formatDateTime(enrolment.createdAt)}; token ${enrolment.tokenHint}` },
      badges,
    ),
    h('td', { 'data-field': 'fiveHour' }, dash()),
    h('td', { 'data-field': 'sevenDay' }, dash()),
    h('td', { 'data-field': 'resets' }, dash()),
    h('td', { class: 'num', 'data-field': 'inFlight' }, dash()),
    h('td', { 'data-field': 'version' }, dash()),
    h('td', { class: 'num', 'data-field': 'heartbeat' }, dash()),
    actionsCell(enrolment.nodeId, enrolment.adminDrained, canWrite),
  );
}

/**
 * Renders the fleet: `nodes` are the nodes connected to this gateway, `enrolled` every enrolled node (undefined from
 * a gateway that does not list them). `clock.skewMs` is the gateway's clock minus this browser's, so reset times read
 * right even when the two disagree. `builds` is { versions, mixed } as GET /admin/nodes groups them. `canWrite`
 * (the admin role) adds each row's Drain/Resume button.
 */
export function renderFleet(els, { nodes, enrolled }, clock, builds, { canWrite = false } = {}) {
  const serverNow = Date.now() + clock.skewMs;
  const connected = new Map(nodes.map((n) => [n.nodeId, n]));
  const enrolments = new Map((enrolled ?? []).map((e) => [e.nodeId, e]));
  const ids = [...new Set([...connected.keys(), ...enrolments.keys()])].sort();
  const rows = ids.map((id) => {
    const node = connected.get(id);
    return node === undefined
      ? offlineRow(enrolments.get(id), canWrite)
      : connectedRow(node, enrolments.get(id), enrolled !== undefined, clock, serverNow, canWrite);
  });
  const empty = h(
    'tr',
    {},
    h(
      'td',
      { colspan: canWrite ? 10 : 9, class: 'muted' },
      'No node is enrolled yet: add one with `switchyard nodes add <id>`',
    ),
  );
  els.body.replaceChildren(...(rows.length > 0 ? rows : [empty]));
  const available = nodes.filter((n) => n.state === 'available' && !n.adminDrained).length;
  els.count.textContent = `${ids.length} node${ids.length === 1 ? '' : 's'} · ${nodes.length} connected · ${available} serving`;
  els.versions.replaceChildren(...mixedBadge(builds));
}

/** The gateway's clock minus this browser's, read off a node's last report (heartbeatAt + age = the gateway's now). */
export function clockOf(nodes, fetchedAt) {
  const node = nodes[0];
  return { fetchedAt, skewMs: node === undefined ? 0 : node.heartbeatAt + node.heartbeatAgeMs - fetchedAt };
}
