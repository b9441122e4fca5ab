// What people read: counts, spans and times relative to now, tables that line up.
import { formatCount, formatDuration, formatPercent, formatRelative, formatSpan, renderTable } from './format.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('formatting', () => {
  it('groups thousands and rounds', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1499.6)).toBe('1,500');
  });

  it('shows a span as its two largest units', () => {
    expect(formatSpan(2 * 3_600_000 + 13 * 60_000 + 5_000)).toBe('2h 13m');
    expect(formatSpan(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 4h');
    expect(formatSpan(2 * 3_600_000 + 5_000)).toBe('2h');
    expect(formatSpan(45_000)).toBe('45s');
    expect(formatSpan(400)).toBe('0s');
  });

  it('says when, relative to now', () => {
    expect(formatRelative(NOW + 2 * 3_600_000 + 13 * 60_000, NOW)).toBe('in 2h 13m');
    expect(formatRelative(NOW - 5 * 60_000 - 2_000, NOW)).toBe('5m 2s ago');
    expect(formatRelative(NOW + 300, NOW)).toBe('now');
  });

  it('formats durations and utilization', () => {
    expect(formatDuration(850.4)).toBe('850 ms');
    expect(formatDuration(1_250)).toBe('1.3 s');
    expect(formatDuration(184_000)).toBe('3m 4s');
    expect(formatPercent(0.423)).toBe('42%');
  });

  it('lines up columns, numbers to the right', () => {
    const lines = renderTable(
      [{ header: 'NAME' }, { header: 'TOKENS', align: 'right' }],
      [
        ['alice', '1,234,567'],
        ['bob', '12'],
      ],
    );
    expect(lines).toEqual(['NAME      TOKENS', 'alice  1,234,567', 'bob           12']);
  });
});
