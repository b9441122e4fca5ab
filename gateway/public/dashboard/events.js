// Recent events from GET /admin/alerts (newest first): budgets crossed, accounts that need a login or are limited,
// nodes lost, the fleet predicted to run dry, usage that could not be counted. Shown as text only.
import { formatDateTime, h } from './dom.js';

/** How many events the panel shows. */
const SHOWN = 20;

/** Which events want someone's attention now (red), and which are a warning (amber). */
const SEVERITY = {
  account_needs_login: 'error',
  node_lost: 'error',
  fleet_exhaustion: 'error',
  usage_job_failed: 'error',
  budget_threshold: 'warn',
  account_limited: 'warn',
};

function subject(event) {
  const parts = [];
  if (event.keyId !== undefined) parts.push(`key ${event.keyId}`);
  if (event.nodeId !== undefined) parts.push(`node ${event.nodeId}`);
  return parts.length > 0 ? parts.join(' · ') : h('span', { class: 'muted' }, '–');
}

/** Renders the events; `alerts` is null when the gateway has no /admin/alerts. */
export function renderEvents(els, alerts) {
  if (alerts === null) {
    els.body.replaceChildren(
      h(
        'tr',
        {},
        h(
          'td',
          { colspan: 4, class: 'muted', 'data-testid': 'events-unavailable' },
          'This gateway does not list alert events.',
        ),
      ),
    );
    els.count.textContent = '';
    return;
  }
  const shown = alerts.slice(0, SHOWN);
  const rows = shown.map((event) =>
    h(
      'tr',
      { 'data-testid': 'event-row', 'data-event-id': event.id, 'data-type': event.type },
      h('td', { 'data-field': 'at' }, formatDateTime(event.at)),
      h(
        'td',
        { 'data-field': 'type' },
        h('span', { class: `badge ${SEVERITY[event.type] ?? 'ok'}` }, String(event.type).replaceAll('_', ' ')),
      ),
      h('td', { 'data-field': 'message', class: 'wrap' }, event.message),
      h('td', { 'data-field': 'subject' }, subject(event)),
    ),
  );
  els.body.replaceChildren(
    ...(rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No events yet'))]),
  );
  els.count.textContent =
    alerts.length > shown.length
      ? `newest ${shown.length} of ${alerts.length}`
      : `${alerts.length} event${alerts.length === 1 ? '' : 's'}`;
}
