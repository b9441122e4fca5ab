// Building DOM from data without ever parsing it as markup: every value becomes a text node or a plain
// attribute value. Attributes that could load or run something are refused outright.

const SVG_NS = 'http://www.w3.org/2000/svg';
const FORBIDDEN_ATTR = /^(on|style$|href$|src$|xlink:href$|srcdoc$|action$|formaction$)/i;

function setProps(el, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (FORBIDDEN_ATTR.test(name)) throw new Error(`refusing to set attribute ${name} from data`);
    el.setAttribute(name, value === true ? '' : String(value));
  }
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h('td', { 'data-field': 'model' }, row.model). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendAll(el, children);
  return el;
}

/** An SVG element, the same way. */
export function s(tag, props = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  appendAll(el, children);
  return el;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** 1234567 → "1,234,567" (fixed locale, so what the page shows is what a reader and a test parse). */
export function formatInt(n) {
  return integer.format(Number.isFinite(n) ? n : 0);
}

/** 1234567 → "1.2M", for axis labels. */
export function formatCompact(n) {
  return compact.format(Number.isFinite(n) ? n : 0);
}

/** A fraction used (0.42) as "42%". */
export function formatPercent(fraction) {
  return `${Math.round(fraction * 100)}%`;
}

/** A span of time: "45s", "12m 05s", "3h 07m", "2d 4h". */
export function formatSpan(ms) {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 60) return `${sec}s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min}m ${String(sec % 60).padStart(2, '0')}s`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours}h ${String(min % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** A duration in ms for a table cell: "850 ms", "2.4 s". */
export function formatMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Local wall-clock time of an epoch-ms instant: "14:03:27". */
export function formatClock(epochMs) {
  return new Date(epochMs).toLocaleTimeString('en-GB', { hour12: false });
}

/** Local date and time, for tooltips. */
export function formatDateTime(epochMs) {
  return new Date(epochMs).toLocaleString('en-GB', { hour12: false });
}

/** Shortens a label for a chart axis; the full text stays in the table and the bar's title. */
export function truncate(text, max) {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

const usdAxis = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 });

/**
 * Integer micro-dollars (as the gateway counts them) as dollars, exactly: two to six decimals, no float arithmetic.
 * 300090 → "$0.30009", 1500000 → "$1.50", -1250 → "-$0.00125". Read back with Number(text.replace(/[$,]/g, '')).
 */
export function formatUsdMicros(micros) {
  const whole = Number.isFinite(micros) ? Math.round(micros) : 0;
  const abs = Math.abs(whole);
  const fraction = String(abs % 1_000_000)
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${whole < 0 ? '-' : ''}$${integer.format(Math.floor(abs / 1_000_000))}.${fraction}`;
}

/** Dollars for a chart axis, to three significant digits: "$0.25", "$0.00125", "$1,200". */
export function formatUsdAxis(usd) {
  return usdAxis.format(Number.isFinite(usd) ? usd : 0);
}

/** A share (0..1) to a tenth of a percent: "90.1%"; null (nothing to share) → "–". */
export function formatShare(share) {
  return share === null || share === undefined || !Number.isFinite(share) ? '–' : `${(share * 100).toFixed(1)}%`;
}

/** The smallest 1/2/5 × 10^n at or above n, so the axis reads in round numbers. */
export function niceCeil(n) {
  if (n <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  const step = [1, 2, 5, 10].find((m) => m * magnitude >= n) ?? 10;
  return step * magnitude;
}
