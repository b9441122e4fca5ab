// Text for people: aligned tables, numbers with thousands separators, times relative to now.

/** A table column: its header and which side its cells line up on. */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

const UNITS: [label: string, ms: number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** 1234567 → "1,234,567" (fractions are rounded). */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A span as its two largest units: "2h 13m", "3d 4h", "45s", "2h" (a zero second unit is left out). */
export function formatSpan(ms: number): string {
  let rest = Math.abs(Math.round(ms));
  const counts = UNITS.map(([label, size]) => {
    const count = Math.floor(rest / size);
    rest -= count * size;
    return { label, count };
  });
  const first = counts.findIndex((u) => u.count > 0);
  if (first === -1) return '0s';
  return counts
    .slice(first, first + 2)
    .filter((u) => u.count > 0)
    .map((u) => `${u.count}${u.label}`)
    .join(' ');
}

/** An instant relative to now: "in 2h 13m", "5m 2s ago", "now". */
export function formatRelative(atMs: number, nowMs: number): string {
  const diff = atMs - nowMs;
  if (Math.abs(diff) < 1_000) return 'now';
  return diff > 0 ? `in ${formatSpan(diff)}` : `${formatSpan(diff)} ago`;
}

/** A duration: "850 ms", "1.2 s", "3m 4s". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return formatSpan(ms);
}

/** A 0..1 utilization as a percentage: 0.423 → "42%". */
export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

/** Lines of a table whose columns are as wide as their widest cell, two spaces apart. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return c.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}

/** `label: value` lines with the values lined up. */
export function renderFields(fields: readonly [label: string, value: string][]): string[] {
  const width = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width + 1)}  ${value}`);
}
