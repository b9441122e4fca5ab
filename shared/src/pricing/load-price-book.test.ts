// The price book against genai-prices' own figures: every expected amount here comes from calcPrice on the same
// usage as the API reports it (through the library's Anthropic extractor), never from a rate we typed, except
// the PRICES_FILE fixtures', which are ours by definition.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calcPrice, extractUsage, findProvider, type Provider } from '@pydantic/genai-prices';
import { loadPriceBook } from './load-price-book.js';
import type { PricedUsage } from './price-book.js';
import { PricesFileError } from './prices-file.js';

const anthropic = findProvider({ providerId: 'anthropic' }) as Provider;
const installed = (
  JSON.parse(readFileSync(join(__dirname, '../../../node_modules/@pydantic/genai-prices/package.json'), 'utf8')) as {
    version: string;
  }
).version;

function usage(over: Partial<PricedUsage>): PricedUsage {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheCreation5mInputTokens: 0,
    cacheCreation1hInputTokens: 0,
    cacheReadInputTokens: 0,
    ...over,
  };
}

/** The response's `usage` object as the API sends it. */
function apiUsage(u: PricedUsage): Record<string, unknown> {
  return {
    input_tokens: u.inputTokens,
    output_tokens: u.outputTokens,
    cache_creation_input_tokens: u.cacheCreationInputTokens,
    cache_read_input_tokens: u.cacheReadInputTokens,
    cache_creation: {
      ephemeral_5m_input_tokens: u.cacheCreation5mInputTokens,
      ephemeral_1h_input_tokens: u.cacheCreation1hInputTokens,
    },
  };
}

/** genai-prices' figure for one API response, in micro-dollars; null when it has no price. */
function libraryMicros(model: string, u: PricedUsage, provider: Provider = anthropic, at = new Date()): number | null {
  const result = calcPrice(extractUsage(provider, { model, usage: apiUsage(u) }).usage, model, {
    provider,
    timestamp: at,
  });
  return result === null ? null : Math.round(result.total_price * 1e6);
}

const book = loadPriceBook();
const MODEL = 'claude-sonnet-4-5';

describe('loadPriceBook without a file', () => {
  test('names the installed genai-prices as the price data version', () => {
    expect(book.version).toBe(`genai-prices@${installed}`);
  });

  test.each([
    ['plain input and output', usage({ inputTokens: 1_234, outputTokens: 567 })],
    [
      '5-minute cache writes',
      usage({ inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 4_000, cacheCreation5mInputTokens: 4_000 }),
    ],
    [
      '1-hour cache writes',
      usage({ inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 4_000, cacheCreation1hInputTokens: 4_000 }),
    ],
    [
      'cache writes without a TTL split (priced as 5-minute ones)',
      usage({ inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 4_000 }),
    ],
    ['cache reads', usage({ inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 90_000 })],
    [
      'all of them',
      usage({
        inputTokens: 1_000,
        outputTokens: 500,
        cacheCreationInputTokens: 3_000,
        cacheCreation5mInputTokens: 1_000,
        cacheCreation1hInputTokens: 2_000,
        cacheReadInputTokens: 4_000,
      }),
    ],
    [
      'a long context past the 200k tier',
      usage({
        inputTokens: 150_000,
        outputTokens: 2_000,
        cacheCreationInputTokens: 40_000,
        cacheCreation1hInputTokens: 40_000,
        cacheReadInputTokens: 30_000,
      }),
    ],
  ])('%s cost what genai-prices says', (_name, u) => {
    const cost = book.cost(MODEL, u);
    expect(cost.priced).toBe(true);
    expect(cost.costMicros).toBe(libraryMicros(MODEL, u));
    expect(cost.costMicros).toBeGreaterThan(0);
  });

  test('each kind of token has its own rate (none of them is priced as another)', () => {
    const per = (over: Partial<PricedUsage>) => book.cost(MODEL, usage(over)).costMicros;
    const n = 100_000;
    const rates = [
      per({ inputTokens: n }),
      per({ outputTokens: n }),
      per({ cacheCreationInputTokens: n, cacheCreation5mInputTokens: n }),
      per({ cacheCreationInputTokens: n, cacheCreation1hInputTokens: n }),
      per({ cacheReadInputTokens: n }),
    ];
    expect(new Set(rates).size).toBe(rates.length);
  });

  test('past the tier every token of the request is dearer (the tier is chosen by the total input, cache included)', () => {
    const below = book.cost(MODEL, usage({ inputTokens: 100_000, cacheReadInputTokens: 100_000 })).costMicros;
    const above = book.cost(MODEL, usage({ inputTokens: 100_001, cacheReadInputTokens: 100_000 })).costMicros;
    expect(above).toBeGreaterThan(below * 1.5);
    expect(above).toBe(libraryMicros(MODEL, usage({ inputTokens: 100_001, cacheReadInputTokens: 100_000 })));
  });

  test('a model genai-prices does not know is not priced at a guess', () => {
    const u = usage({ inputTokens: 1_000, outputTokens: 10 });
    expect(libraryMicros('claude-unreleased-x9', u)).toBeNull();
    expect(book.cost('claude-unreleased-x9', u)).toEqual({ priced: false, costMicros: 0, cacheSavingsMicros: 0 });
  });

  test('cache savings: the same tokens all as plain input, minus the cost (negative when writes outweigh reads)', () => {
    const reads = usage({ inputTokens: 100, outputTokens: 50, cacheReadInputTokens: 50_000 });
    const plain = usage({ inputTokens: 50_100, outputTokens: 50 });
    const saved = book.cost(MODEL, reads);
    expect(saved.cacheSavingsMicros).toBe(
      (libraryMicros(MODEL, plain) as number) - (libraryMicros(MODEL, reads) as number),
    );
    expect(saved.cacheSavingsMicros).toBeGreaterThan(0);

    const writes = usage({
      inputTokens: 100,
      outputTokens: 50,
      cacheCreationInputTokens: 50_000,
      cacheCreation5mInputTokens: 50_000,
    });
    expect(book.cost(MODEL, writes).cacheSavingsMicros).toBe(
      (libraryMicros(MODEL, plain) as number) - (libraryMicros(MODEL, writes) as number),
    );
    expect(book.cost(MODEL, writes).cacheSavingsMicros).toBeLessThan(0);
    expect(book.cost(MODEL, usage({ inputTokens: 10, outputTokens: 10 })).cacheSavingsMicros).toBe(0);
  });

  test('prices in force when the request arrived: a model whose tier ended on a date is priced by `at`', () => {
    // claude-sonnet-4-6 dropped its long-context tier in genai-prices' data on a start date; both sides of it.
    const u = usage({ inputTokens: 250_000, outputTokens: 100 });
    const before = new Date('2026-01-15T00:00:00Z');
    const after = new Date('2026-11-15T00:00:00Z');
    expect(book.cost('claude-sonnet-4-6', u, before.getTime()).costMicros).toBe(
      libraryMicros('claude-sonnet-4-6', u, anthropic, before),
    );
    expect(book.cost('claude-sonnet-4-6', u, after.getTime()).costMicros).toBe(
      libraryMicros('claude-sonnet-4-6', u, anthropic, after),
    );
    expect(libraryMicros('claude-sonnet-4-6', u, anthropic, before)).not.toBe(
      libraryMicros('claude-sonnet-4-6', u, anthropic, after),
    );
  });

  test('a 5m + 1h split above the reported total is priced by the split instead of failing', () => {
    const odd = usage({
      inputTokens: 10,
      cacheCreationInputTokens: 5,
      cacheCreation5mInputTokens: 10,
      cacheCreation1hInputTokens: 10,
    });
    expect(book.cost(MODEL, odd).costMicros).toBe(libraryMicros(MODEL, { ...odd, cacheCreationInputTokens: 20 }));
  });
});

describe('reservationMicros', () => {
  const at = (u: Partial<PricedUsage>) => libraryMicros(MODEL, usage(u)) as number;

  test('every byte at the dearest input rate the body may be charged, plus max_tokens at the output rate', () => {
    expect(book.reservationMicros(MODEL, 10_000, 2_000, 'none')).toBe(at({ inputTokens: 10_000, outputTokens: 2_000 }));
    expect(book.reservationMicros(MODEL, 10_000, 2_000, '5m')).toBe(
      at({ cacheCreationInputTokens: 10_000, cacheCreation5mInputTokens: 10_000, outputTokens: 2_000 }),
    );
    expect(book.reservationMicros(MODEL, 10_000, 2_000, '1h')).toBe(
      at({ cacheCreationInputTokens: 10_000, cacheCreation1hInputTokens: 10_000, outputTokens: 2_000 }),
    );
    expect(book.reservationMicros(MODEL, 10_000, 2_000, '1h')).toBeGreaterThan(
      book.reservationMicros(MODEL, 10_000, 2_000, '5m'),
    );
    expect(book.reservationMicros(MODEL, 10_000, 2_000, '5m')).toBeGreaterThan(
      book.reservationMicros(MODEL, 10_000, 2_000, 'none'),
    );
  });

  test('a body past the long-context tier reserves at the tier rate; an unknown model reserves 0', () => {
    expect(book.reservationMicros(MODEL, 300_000, 1_000, 'none')).toBe(
      at({ inputTokens: 300_000, outputTokens: 1_000 }),
    );
    expect(book.reservationMicros(MODEL, 300_000, 1_000, 'none')).toBeGreaterThan(
      3 * book.reservationMicros(MODEL, 100_000, 1_000, 'none'),
    );
    expect(book.reservationMicros('claude-unreleased-x9', 300_000, 1_000, '1h')).toBe(0);
  });
});

describe('loadPriceBook with a PRICES_FILE', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sy-prices-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, content: unknown): string {
    const file = join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  const PRIVATE = {
    id: 'acme-private-1',
    name: 'A private model',
    match: { or: [{ equals: 'acme-private-1' }, { starts_with: 'acme-private-1-' }] },
    prices: { input_mtok: 2, output_mtok: 8, cache_write_mtok: 2.5, cache_write_1h_mtok: 4, cache_read_mtok: 0.2 },
  };
  // An override of a model genai-prices knows, with a tier of its own.
  const OVERRIDE = {
    id: 'sonnet-override',
    match: { starts_with: 'claude-sonnet-4-5' },
    prices: { input_mtok: { base: 1, tiers: [{ start: 1_000, price: 2 }] }, output_mtok: 5 },
  };

  test('prices its own models and wins over genai-prices for the names it matches; the version carries its hash', () => {
    const file = write('prices.json', { models: [PRIVATE, OVERRIDE] });
    const withFile = loadPriceBook({ pricesFile: file });
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
    expect(withFile.version).toBe(`genai-prices@${installed}+prices-file:${sha}`);

    const fileProvider: Provider = { ...anthropic, models: [PRIVATE, OVERRIDE] };
    const u = usage({
      inputTokens: 1_000,
      outputTokens: 100,
      cacheCreationInputTokens: 700,
      cacheCreation5mInputTokens: 300,
      cacheCreation1hInputTokens: 400,
      cacheReadInputTokens: 900,
    });
    expect(withFile.cost('acme-private-1-20260101', u).costMicros).toBe(
      libraryMicros('acme-private-1-20260101', u, fileProvider),
    );
    // 1000 × $2 + 100 × $8 + 300 × $2.5 + 400 × $4 + 900 × $0.2, per million.
    expect(withFile.cost('acme-private-1', u).costMicros).toBe(2_000 + 800 + 750 + 1_600 + 180);
    expect(book.cost('acme-private-1', u).priced).toBe(false);

    const small = usage({ inputTokens: 500, outputTokens: 100 });
    const large = usage({ inputTokens: 1_500, outputTokens: 100 });
    expect(withFile.cost(MODEL, small).costMicros).toBe(500 + 500);
    expect(withFile.cost(MODEL, large).costMicros).toBe(3_000 + 500);
    // Models the file does not match keep genai-prices' prices.
    expect(withFile.cost('claude-haiku-4-5', u).costMicros).toBe(book.cost('claude-haiku-4-5', u).costMicros);
  });

  test.each([
    ['a missing file', undefined, '$', /cannot be read \(ENOENT\)/],
    ['a file that is not JSON', '{"models": [', '$', /is not JSON/],
    ['no models', { models: [] }, '$.models', /./],
    [
      'a missing input price',
      { models: [{ ...PRIVATE, prices: { output_mtok: 1 } }] },
      '$.models[0].prices.input_mtok',
      /./,
    ],
    [
      'a negative price',
      { models: [{ ...PRIVATE, prices: { input_mtok: -1, output_mtok: 1 } }] },
      '$.models[0].prices.input_mtok',
      /./,
    ],
    [
      'a price key genai-prices would ignore',
      { models: [{ ...PRIVATE, prices: { input_mtok: 1, output_mtok: 1, input_cents: 1 } }] },
      '$.models[0].prices',
      /input_cents/,
    ],
    [
      'a bad regex in a match',
      { models: [PRIVATE, { ...PRIVATE, match: { or: [{ equals: 'x' }, { regex: '(' }] } }] },
      '$.models[1].match.or[1].regex',
      /regular expression/,
    ],
    [
      'a 1-hour write rate without the 5-minute one',
      { models: [{ ...PRIVATE, prices: { input_mtok: 1, output_mtok: 1, cache_write_1h_mtok: 2 } }] },
      '$.models[0].prices',
      /cache_write_mtok/,
    ],
  ])('fails at load on %s, naming the file and the JSON path', (name, content, path, problem) => {
    const file = content === undefined ? join(dir, 'absent.json') : write(`${name.replace(/\W+/g, '-')}.json`, content);
    let thrown: unknown;
    try {
      loadPriceBook({ pricesFile: file });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PricesFileError);
    const err = thrown as PricesFileError;
    expect({ file: err.file, path: err.path }).toEqual({ file, path });
    expect(err.message).toContain(file);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(problem);
  });
});
