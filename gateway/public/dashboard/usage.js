// Token usage from GET /admin/usage: the totals, and per day, per key and per model a chart (hand-drawn SVG)
// with the same numbers as a table beneath it, so every bar can be read as text; each row with its cost and how much
// of its input the prompt cache served.
import { formatCompact, formatInt, formatShare, formatSpan, formatUsdMicros, h, niceCeil, s, truncate } from './dom.js';

const DAY_W = 960;
const DAY_H = 220;
const PAD = { left: 56, right: 12, top: 14, bottom: 34 };
const BAR_ROWS = 8;

function barTitle(label, row) {
  return `${label} · sent ${formatInt(row.sentTokens)} · received ${formatInt(row.receivedTokens)} tokens · ${formatInt(row.requests)} requests`;
}

/** Tokens per day: sent and received side by side, one group per day of the range. */
function dayChart(rows) {
  const plotW = DAY_W - PAD.left - PAD.right;
  const plotH = DAY_H - PAD.top - PAD.bottom;
  const top = niceCeil(Math.max(0, ...rows.map((r) => Math.max(r.sentTokens, r.receivedTokens))));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => [
    s('line', { class: 'grid', x1: PAD.left, x2: DAY_W - PAD.right, y1: y(top * f), y2: y(top * f) }),
    s('text', { class: 'axis', x: PAD.left - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, formatCompact(top * f)),
  ]);
  const groupW = plotW / Math.max(1, rows.length);
  const barW = Math.max(2, Math.min(26, groupW * 0.36));
  const labelEvery = Math.ceil(rows.length / 10);
  const bars = rows.map((row, i) => {
    const mid = PAD.left + groupW * i + groupW / 2;
    const bar = (kind, value, x) =>
      s(
        'rect',
        { class: `bar ${kind}`, x, y: y(value), width: barW, height: Math.max(0, PAD.top + plotH - y(value)) },
        s('title', {}, barTitle(row.id, row)),
      );
    return [
      bar('sent', row.sentTokens, mid - barW - 1),
      bar('received', row.receivedTokens, mid + 1),
      i % labelEvery === 0
        ? s('text', { class: 'axis', x: mid, y: DAY_H - PAD.bottom + 16, 'text-anchor': 'middle' }, row.id.slice(5))
        : null,
    ];
  });
  return s(
    'svg',
    { viewBox: `0 0 ${DAY_W} ${DAY_H}`, role: 'img', 'aria-label': 'Tokens sent and received per day' },
    grid,
    bars,
  );
}

/** The busiest rows of a grouping (the API sorts them busiest first) as horizontal bars. */
function barChart(rows, labelOf, what) {
  const shown = rows.slice(0, BAR_ROWS);
  const width = 480;
  const labelW = 150;
  const valueW = 96;
  const rowH = 34;
  const height = Math.max(1, shown.length) * rowH + 8;
  const top = niceCeil(Math.max(0, ...shown.map((r) => Math.max(r.sentTokens, r.receivedTokens))));
  const x = (v) => ((width - labelW - valueW) * v) / top;
  const bars = shown.map((row, i) => {
    const y0 = 4 + i * rowH;
    const title = s('title', {}, barTitle(labelOf(row), row));
    return [
      s('text', { class: 'label', x: labelW - 8, y: y0 + 17, 'text-anchor': 'end' }, truncate(labelOf(row), 20), title),
      s(
        'rect',
        { class: 'bar sent', x: labelW, y: y0 + 2, width: x(row.sentTokens), height: 12 },
        s('title', {}, barTitle(labelOf(row), row)),
      ),
      s(
        'rect',
        { class: 'bar received', x: labelW, y: y0 + 16, width: x(row.receivedTokens), height: 12 },
        s('title', {}, barTitle(labelOf(row), row)),
      ),
      s('text', { class: 'axis', x: width - valueW + 6, y: y0 + 12 }, formatCompact(row.sentTokens)),
      s('text', { class: 'axis', x: width - valueW + 6, y: y0 + 26 }, formatCompact(row.receivedTokens)),
    ];
  });
  const empty = shown.length === 0 ? s('text', { class: 'axis', x: 8, y: 24 }, 'No usage in this range yet') : null;
  return s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Tokens per ${what}` }, bars, empty);
}

/**
 * A cost cell: the exact dollars (from the integer micro-dollars), and a flag when some requests had no price, so a
 * low figure is never mistaken for a cheap one.
 */
export function costCell(totals) {
  const unpriced = totals.unpricedRequests ?? 0;
  const flag =
    unpriced > 0
      ? h(
          'span',
          {
            class: 'badge warn flag',
            'data-field': 'unpriced',
            title: `${formatInt(unpriced)} request${unpriced === 1 ? '' : 's'} of a model with no price, counted at $0`,
          },
          `${formatInt(unpriced)} unpriced`,
        )
      : null;
  return h(
    'td',
    { class: 'num', 'data-field': 'cost' },
    h('span', { 'data-field': 'costUsd' }, formatUsdMicros(totals.costMicros ?? 0)),
    flag,
  );
}

const COLUMNS = ['Requests', 'Sent', 'Received', 'Errors', 'Cost', 'Cache read', 'Saved'];

/** The numbers behind a chart: one row per id, every figure as text. */
function usageTable(grouping, rows, labelOf, heading) {
  const body = rows.map((row) =>
    h(
      'tr',
      { 'data-testid': 'usage-row', 'data-id': row.id },
      h(
        'td',
        { 'data-field': 'label', title: row.id },
        h('span', { 'data-field': 'name' }, labelOf(row)),
        labelOf(row) === row.id ? null : h('span', { class: 'id' }, row.id),
      ),
      h('td', { class: 'num', 'data-field': 'requests' }, formatInt(row.requests)),
      h('td', { class: 'num', 'data-field': 'sentTokens' }, formatInt(row.sentTokens)),
      h('td', { class: 'num', 'data-field': 'receivedTokens' }, formatInt(row.receivedTokens)),
      h('td', { class: 'num', 'data-field': 'errors' }, formatInt(row.errors)),
      costCell(row),
      h(
        'td',
        {
          class: 'num',
          'data-field': 'cacheReadShare',
          title: `${formatInt(row.cacheReadInputTokens)} of ${formatInt(row.sentTokens)} input tokens read from the cache`,
        },
        formatShare(row.cacheReadShare),
      ),
      h('td', { class: 'num', 'data-field': 'cacheSavingsUsd' }, formatUsdMicros(row.cacheSavingsMicros ?? 0)),
    ),
  );
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data compact', 'data-testid': `usage-table-${grouping}` },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, heading),
          COLUMNS.map((c) => h('th', { class: 'num' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        body.length > 0
          ? body
          : h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'muted' }, 'No usage in this range yet')),
      ),
    ),
  );
}

function tile(testid, label, value, note, props = {}) {
  const { class: extra, ...rest } = props;
  return h(
    'div',
    { class: extra ? `tile ${extra}` : 'tile', ...rest },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value', 'data-testid': testid }, value),
    note ? h('div', { class: 'tile-note' }, note) : null,
  );
}

/**
 * How far the totals trail the traffic: the oldest uncounted request's wait and the usage queue by state.
 * Above USAGE_LAG_WARN_SECONDS it is marked as a warning: budgets follow these totals, so they trail too.
 */
function lagTile(report) {
  const q = report.queue;
  if (q === null || q === undefined) {
    return tile('queue-lag', 'Accounting lag', 'unknown', 'the usage queue did not answer', {
      'data-state': 'unknown',
      'data-testid': 'queue-lag-tile',
    });
  }
  const lagging = q.lagSeconds > report.lagWarnSeconds;
  const depth = h(
    'span',
    { 'data-testid': 'queue-depth' },
    `${formatInt(q.waiting)} waiting · ${formatInt(q.active)} active · ${formatInt(q.delayed)} delayed · ${formatInt(q.failed)} failed`,
  );
  const note = lagging
    ? [
        h('strong', {}, `above the ${formatSpan(report.lagWarnSeconds * 1000)} threshold: budgets trail the traffic`),
        h('br'),
        depth,
      ]
    : depth;
  return tile('queue-lag', 'Accounting lag', formatSpan(q.lagSeconds * 1000), note, {
    class: lagging ? 'warn' : undefined,
    'data-state': lagging ? 'lagging' : 'ok',
    'data-testid': 'queue-lag-tile',
    title: `The oldest request not yet counted has waited ${Math.round(q.lagSeconds)} s (warning above ${report.lagWarnSeconds} s).`,
  });
}

/** The range's totals, since counting began, and how far counting lags. */
function renderTotals(container, report) {
  const t = report.totals;
  const all = report.allTime;
  container.replaceChildren(
    tile(
      'total-requests',
      'Requests',
      formatInt(t.requests),
      `${formatInt(t.errors)} errors · ${formatInt(t.aborted)} aborted`,
    ),
    tile('total-sent', 'Tokens sent', formatInt(t.sentTokens), `estimated ${formatInt(t.estimatedInputTokens)}`),
    tile(
      'total-received',
      'Tokens received',
      formatInt(t.receivedTokens),
      `estimated ${formatInt(t.estimatedOutputTokens)}`,
    ),
    tile(
      'alltime-requests',
      'All time',
      formatInt(all.requests),
      `${formatInt(all.sentTokens)} sent · ${formatInt(all.receivedTokens)} received`,
    ),
    lagTile(report),
  );
}

/** Renders the three usage reports (by=day, by=key, by=model) into the page. */
export function renderUsage(els, { byDay, byKey, byModel }) {
  renderTotals(els.totals, byDay);
  els.rangeText.textContent = `${byDay.from} to ${byDay.to} (UTC days)`;
  const keyLabel = (row) => row.name ?? row.id;
  const idLabel = (row) => row.id;
  els.day.replaceChildren(
    h('figcaption', {}, 'Tokens per day'),
    dayChart(byDay.rows),
    usageTable('day', byDay.rows, idLabel, 'Day'),
  );
  els.key.replaceChildren(
    h('figcaption', {}, 'Tokens per key'),
    barChart(byKey.rows, keyLabel, 'key'),
    usageTable('key', byKey.rows, keyLabel, 'Key'),
  );
  els.model.replaceChildren(
    h('figcaption', {}, 'Tokens per model'),
    barChart(byModel.rows, idLabel, 'model'),
    usageTable('model', byModel.rows, idLabel, 'Model'),
  );
}

/** Key names by key id, from the by=key report (recent requests carry only the id). */
export function keyNames(byKey) {
  return new Map(byKey.rows.filter((row) => row.name !== undefined).map((row) => [row.id, row.name]));
}
