// Dollars from GET /admin/usage: the range's cost and what subscription accounts served at API prices, then a
// cost-per-day chart (hand-drawn SVG). Every figure is printed from the integer micro-dollars the API answers, so
// what the page shows is the API's number to the last micro-dollar.
import { formatInt, formatUsdAxis, formatUsdMicros, h, niceCeil, s } from './dom.js';

const W = 960;
const H = 220;
const PAD = { left: 64, right: 12, top: 18, bottom: 34 };
/** Up to this many days each bar carries its figure above it; beyond, the figures are in the bars' titles and the table. */
const LABELLED_DAYS = 14;

function tile(testid, label, value, note, extra = {}) {
  return h(
    'div',
    { class: extra.warn ? 'tile warn' : 'tile', 'data-testid': `${testid}-tile` },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value', 'data-testid': testid }, value),
    note ? h('div', { class: 'tile-note' }, note) : null,
  );
}

function dayTitle(row) {
  const parts = [row.id, formatUsdMicros(row.costMicros), `${formatInt(row.requests)} requests`];
  if (row.apiEquivalentMicros > 0)
    parts.push(`${formatUsdMicros(row.apiEquivalentMicros)} served by subscription accounts`);
  if (row.unpricedRequests > 0) parts.push(`${formatInt(row.unpricedRequests)} unpriced`);
  if ((row.priceVersions ?? []).length > 0) parts.push(`prices ${row.priceVersions.join(', ')}`);
  return parts.join(' · ');
}

/** Cost per day over the range: one bar per day, the part subscription accounts served drawn inside it. */
function costDayChart(rows) {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const top = niceCeil(Math.max(0, ...rows.map((r) => r.costUsd)));
  const y = (usd) => PAD.top + plotH - (usd / top) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => [
    s('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(top * f), y2: y(top * f) }),
    s('text', { class: 'axis', x: PAD.left - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, formatUsdAxis(top * f)),
  ]);
  const slot = plotW / Math.max(1, rows.length);
  const barW = Math.max(2, Math.min(36, slot * 0.6));
  const labelEvery = Math.ceil(rows.length / 10);
  const bars = rows.map((row, i) => {
    const mid = PAD.left + slot * i + slot / 2;
    const title = dayTitle(row);
    const rect = (cls, usd) =>
      s(
        'rect',
        { class: cls, x: mid - barW / 2, y: y(usd), width: barW, height: Math.max(0, PAD.top + plotH - y(usd)) },
        s('title', {}, title),
      );
    return s(
      'g',
      { 'data-testid': 'cost-bar', 'data-day': row.id },
      rect('bar cost', row.costUsd),
      row.apiEquivalentUsd > 0 ? rect('bar subscription', row.apiEquivalentUsd) : null,
      rows.length <= LABELLED_DAYS && row.costMicros !== 0
        ? s(
            'text',
            { class: 'axis value', 'data-field': 'costUsd', x: mid, y: y(row.costUsd) - 4, 'text-anchor': 'middle' },
            formatUsdMicros(row.costMicros),
          )
        : null,
      i % labelEvery === 0
        ? s('text', { class: 'axis', x: mid, y: H - PAD.bottom + 16, 'text-anchor': 'middle' }, row.id.slice(5))
        : null,
    );
  });
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Cost per day in US dollars' }, grid, bars);
}

/** The range's dollars: its cost, what subscriptions served, what had no price, and which prices were used. */
function costTiles(report) {
  const t = report.totals;
  const versions = report.priceVersions ?? [];
  return [
    tile(
      'total-cost',
      'Cost',
      formatUsdMicros(t.costMicros),
      `at API list prices · all time ${formatUsdMicros(report.allTime.costMicros)}`,
    ),
    tile(
      'total-api-equivalent',
      'Served by subscriptions',
      formatUsdMicros(t.apiEquivalentMicros),
      'what subscription accounts served, at API prices (not billed per token)',
    ),
    tile(
      'total-unpriced',
      'Unpriced requests',
      formatInt(t.unpricedRequests),
      t.unpricedRequests > 0
        ? 'a model with no price, counted at $0: add it in PRICES_FILE'
        : 'every model had a price',
      {
        warn: t.unpricedRequests > 0,
      },
    ),
    tile(
      'price-versions',
      'Prices',
      versions.length > 0 ? versions.join(', ') : '–',
      'price data that priced this range',
    ),
  ];
}

/** Renders the cost panel from the by=day report. */
export function renderCost(els, { byDay }) {
  els.tiles.replaceChildren(...costTiles(byDay));
  els.chart.replaceChildren(
    h('figcaption', {}, `Cost per day · ${formatUsdMicros(byDay.totals.costMicros)} from ${byDay.from} to ${byDay.to}`),
    costDayChart(byDay.rows),
  );
}
