// Prompt-cache efficiency from GET /admin/usage: how much of the input the cache served and what that saved, the
// requests that found their cache cold, and the sticky conversations that lost their node (and so its cache). Per
// node too, since each node is one account with its own cache.
import { formatInt, formatShare, formatUsdMicros, h } from './dom.js';
import { costCell } from './usage.js';

function tile(testid, label, value, note, warn = false) {
  return h(
    'div',
    { class: warn ? 'tile warn' : 'tile', 'data-testid': `${testid}-tile` },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value', 'data-testid': testid }, value),
    h('div', { class: 'tile-note' }, note),
  );
}

function cacheTiles(t) {
  return [
    tile(
      'cache-read-share',
      'Read from cache',
      formatShare(t.cacheReadShare),
      `${formatInt(t.cacheReadInputTokens)} of ${formatInt(t.sentTokens)} input tokens`,
    ),
    tile(
      'cache-savings',
      'Saved by caching',
      formatUsdMicros(t.cacheSavingsMicros),
      t.cacheSavingsMicros < 0
        ? 'cache writes cost more than reads saved'
        : 'against the same tokens at the input price',
      t.cacheSavingsMicros < 0,
    ),
    tile('cache-misses', 'Cache misses', formatInt(t.cacheMisses), 'requests that wrote to the cache and read nothing'),
    tile(
      'sticky-moves',
      'Sticky moves',
      formatInt(t.stickyMoves),
      'conversations answered away from their node (its cache stayed behind)',
      t.stickyMoves > 0,
    ),
  ];
}

const COLUMNS = ['Requests', 'Cost', 'API value', 'Cache read', 'Saved', 'Misses', 'Sticky moves'];

function nodeTable(rows) {
  const body = rows.map((row) =>
    h(
      'tr',
      { 'data-testid': 'cache-row', 'data-id': row.id },
      h('td', { 'data-field': 'label' }, row.id),
      h('td', { class: 'num', 'data-field': 'requests' }, formatInt(row.requests)),
      costCell(row),
      h(
        'td',
        {
          class: 'num',
          'data-field': 'apiEquivalentUsd',
          title: 'What the account served at API prices (a subscription is not billed per token)',
        },
        formatUsdMicros(row.apiEquivalentMicros),
      ),
      h('td', { class: 'num', 'data-field': 'cacheReadShare' }, formatShare(row.cacheReadShare)),
      h('td', { class: 'num', 'data-field': 'cacheSavingsUsd' }, formatUsdMicros(row.cacheSavingsMicros)),
      h('td', { class: 'num', 'data-field': 'cacheMisses' }, formatInt(row.cacheMisses)),
      h('td', { class: 'num', 'data-field': 'stickyMoves' }, formatInt(row.stickyMoves)),
    ),
  );
  return h(
    'table',
    { class: 'data compact', 'data-testid': 'cache-table-node' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'Node'),
        COLUMNS.map((c) => h('th', { class: 'num' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      body.length > 0
        ? body
        : h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'muted' }, 'No node answered in this range yet')),
    ),
  );
}

/** Renders the cache panel: the range's totals (by=day report) and one row per node (by=node report). */
export function renderCache(els, { byDay, byNode }) {
  els.tiles.replaceChildren(...cacheTiles(byDay.totals));
  els.nodes.replaceChildren(nodeTable(byNode.rows));
}
