// The newest requests from GET /admin/usage/recent, newest first, each with what it cost.
import { formatClock, formatDateTime, formatInt, formatMs, formatUsdMicros, h } from './dom.js';

function sent(r) {
  return r.inputTokens + r.cacheCreationInputTokens + r.cacheReadInputTokens;
}

function status(r) {
  const cls = r.status >= 400 ? 'badge error' : r.aborted ? 'badge warn' : 'badge ok';
  return [h('span', { class: cls }, String(r.status)), r.aborted ? h('span', { class: 'id' }, 'client hung up') : null];
}

/** What a request cost, or that its model had no price (an entry from before prices reads as priced at $0). */
function cost(r) {
  if (r.priced === false)
    return h('span', { class: 'badge warn', title: 'A model with no price: counted at $0' }, 'unpriced');
  const saved = r.cacheSavingsMicros ?? 0;
  return h(
    'span',
    { 'data-field': 'costUsd', title: saved === 0 ? '' : `prompt caching saved ${formatUsdMicros(saved)}` },
    formatUsdMicros(r.costMicros ?? 0),
  );
}

/** Renders the recent requests; `names` maps key ids to key names. */
export function renderRecent(els, requests, names) {
  const rows = requests.map((r) =>
    h(
      'tr',
      { 'data-testid': 'recent-row', 'data-request-id': r.requestId },
      h('td', { 'data-field': 'at', title: formatDateTime(r.at) }, formatClock(r.at)),
      h('td', { 'data-field': 'key', title: r.keyId }, names.get(r.keyId) ?? r.keyId),
      h('td', { 'data-field': 'node' }, r.nodeId ?? h('span', { class: 'muted' }, '–')),
      h('td', { 'data-field': 'model' }, r.model),
      h('td', { 'data-field': 'mode' }, r.stream ? 'stream' : 'json'),
      h('td', { 'data-field': 'status', title: r.stopReason ?? '' }, status(r)),
      h(
        'td',
        {
          class: 'num',
          'data-field': 'sentTokens',
          title: `input ${formatInt(r.inputTokens)} · cache writes ${formatInt(r.cacheCreationInputTokens)} · cache reads ${formatInt(r.cacheReadInputTokens)} · estimated ${formatInt(r.estimatedInputTokens)}`,
        },
        formatInt(sent(r)),
      ),
      h(
        'td',
        { class: 'num', 'data-field': 'receivedTokens', title: `estimated ${formatInt(r.estimatedOutputTokens)}` },
        formatInt(r.outputTokens),
      ),
      h('td', { class: 'num', 'data-field': 'cost' }, cost(r)),
      h('td', { class: 'num', 'data-field': 'duration' }, formatMs(r.durationMs)),
      h('td', { class: 'num', 'data-field': 'ttfb' }, formatMs(r.ttfbMs)),
    ),
  );
  els.body.replaceChildren(
    ...(rows.length > 0 ? rows : [h('tr', {}, h('td', { colspan: 11, class: 'muted' }, 'No requests counted yet'))]),
  );
  els.count.textContent = `newest ${requests.length}`;
}
