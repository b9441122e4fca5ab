import { KeyRecordSchema, parseKeyRecord, usdBudget, usdToMicros } from './key-record.js';

const OLD_RECORD = {
  id: 'key_0123456789abcdef',
  name: 'before budgets in dollars',
  digest: 'a'.repeat(64),
  hint: 'sy-AbCd…wxyz',
  enabled: true,
  expiresAt: null,
  allowedModels: null,
  allowedBetas: null,
  rpm: null,
  concurrency: null,
  dailyTokenBudget: 1000,
  createdAt: 1,
  updatedAt: 1,
};

describe('key record USD budgets', () => {
  it('reads a record written before USD budgets existed as having none', () => {
    expect(parseKeyRecord(JSON.stringify(OLD_RECORD))).toMatchObject({
      dailyTokenBudget: 1000,
      dailyUsdBudget: null,
      monthlyUsdBudget: null,
    });
  });

  it('keeps set budgets through a write and a read', () => {
    const record = KeyRecordSchema.parse({ ...OLD_RECORD, dailyUsdBudget: 5, monthlyUsdBudget: 0.000001 });
    expect(parseKeyRecord(JSON.stringify(record))).toEqual(record);
  });

  it.each([
    [0, false],
    [-1, false],
    [0.0000001, false],
    [1.2345678, false],
    [1e10, false],
    [Number.NaN, false],
    [0.000001, true],
    [0.1, true],
    [5, true],
    [123.456789, true],
    [null, true],
  ])('a budget of %p is valid: %p', (usd, valid) => {
    expect(usdBudget.safeParse(usd).success).toBe(valid);
  });

  it('converts dollars to whole micro-dollars without float drift', () => {
    expect(usdToMicros(0.1)).toBe(100_000);
    expect(usdToMicros(123.456789)).toBe(123_456_789);
    expect(usdToMicros(0.000001)).toBe(1);
  });
});
