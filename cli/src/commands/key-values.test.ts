// Key options as operators type them, turned into the admin API's fields (or one-line usage errors).
import { UsageError } from '../cli-error.js';
import { keySettingsFromFlags, parseBetas, parseExpiry, parseLimit, parseModels, parseUsd } from './key-values.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('key option values', () => {
  it('reads limits, with none for unlimited', () => {
    expect(parseLimit('rpm', '60')).toBe(60);
    expect(parseLimit('rpm', 'none')).toBeNull();
    for (const bad of ['0', '-1', '1.5', 'lots']) expect(() => parseLimit('rpm', bad)).toThrow(UsageError);
    expect(() => parseLimit('rpm', 'lots')).toThrow("--rpm expects a whole number above 0, or 'none'; got 'lots'");
  });

  it('reads USD budgets with up to 6 decimals, with none for no budget', () => {
    expect(parseUsd('daily-usd', '5')).toBe(5);
    expect(parseUsd('daily-usd', '$0.25')).toBe(0.25);
    expect(parseUsd('monthly-usd', '123.456789')).toBe(123.456789);
    expect(parseUsd('monthly-usd', 'none')).toBeNull();
    for (const bad of ['0', '-1', '0.0000001', '1.2345678', '1e3', 'five', ''])
      expect(() => parseUsd('daily-usd', bad)).toThrow(UsageError);
    expect(() => parseUsd('daily-usd', '0')).toThrow(
      "--daily-usd expects US dollars above 0 with at most 6 decimals (e.g. 5 or 0.25), or 'none'; got '0'",
    );
    expect(keySettingsFromFlags({ 'daily-usd': '2.5', 'monthly-usd': 'none' }, NOW)).toEqual({
      dailyUsdBudget: 2.5,
      monthlyUsdBudget: null,
    });
  });

  it('reads model lists, with any for all', () => {
    expect(parseModels('claude-sonnet-4-6, claude-haiku-4-5')).toEqual(['claude-sonnet-4-6', 'claude-haiku-4-5']);
    expect(parseModels('any')).toBeNull();
    expect(() => parseModels(' , ')).toThrow(UsageError);
  });

  it('reads beta lists, with any for all and none for no beta', () => {
    expect(parseBetas('context-1m-2025-08-07, fine-grained-tool-streaming-2025-05-14')).toEqual([
      'context-1m-2025-08-07',
      'fine-grained-tool-streaming-2025-05-14',
    ]);
    expect(parseBetas('ANY')).toBeNull();
    expect(parseBetas('none')).toEqual([]);
    expect(() => parseBetas(' , ')).toThrow(UsageError);
    expect(() => parseBetas('ok,a/b')).toThrow(
      "--betas expects anthropic-beta names (letters, digits, . _ -) separated by commas, 'any' or 'none'; got 'a/b'",
    );
  });

  it('reads expiries as spans, days, date-times, epoch ms or never', () => {
    expect(parseExpiry('30d', NOW)).toBe(NOW + 30 * 86_400_000);
    expect(parseExpiry('12h', NOW)).toBe(NOW + 12 * 3_600_000);
    expect(parseExpiry('2026-02-01', NOW)).toBe('2026-02-01T00:00:00Z');
    expect(parseExpiry('2026-02-01T10:00:00+02:00', NOW)).toBe('2026-02-01T10:00:00+02:00');
    expect(parseExpiry('never', NOW)).toBeNull();
    expect(() => parseExpiry('tomorrow', NOW)).toThrow(UsageError);
  });

  it('builds only the fields given, and refuses --enable with --disable', () => {
    expect(keySettingsFromFlags({ rpm: '10', 'daily-tokens': 'none', disable: true }, NOW)).toEqual({
      rpm: 10,
      dailyTokenBudget: null,
      enabled: false,
    });
    expect(keySettingsFromFlags({}, NOW)).toEqual({});
    expect(keySettingsFromFlags({ betas: 'any', models: 'claude-haiku-4-5' }, NOW)).toEqual({
      allowedBetas: null,
      allowedModels: ['claude-haiku-4-5'],
    });
    expect(() => keySettingsFromFlags({ enable: true, disable: true }, NOW)).toThrow(
      'give --enable or --disable, not both',
    );
  });
});
