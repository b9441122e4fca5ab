// The tokeniser's promises (docs/USAGE.md, "Tokenising in linear time, within a budget"): ordinary text
// counts exactly as js-tiktoken does, long pieces are cut so the work is linear, and measure() stops at
// its budget. Work is asserted with an injected clock that advances per call, never with wall time.
import { getEncoding, type Tiktoken } from 'js-tiktoken';
import type { TokenEncoding } from '@switchyard/shared';
import { seededRandom } from '@switchyard/testkit';
import { createTokenizer, PIECE_BOUND_CHARS, type Tokenizer } from './tokenizer.js';

jest.setTimeout(120_000);

const ENCODING: TokenEncoding = 'o200k_base';
const O200K_PATTERN = () => import('js-tiktoken/ranks/o200k_base').then((m) => m.default.pat_str);
// Long pieces are encoded in chunks of at most this many UTF-8 bytes (documented in docs/USAGE.md).
const CHUNK_BYTES = 64;

let full: Tiktoken;
let tokenizer: Tokenizer;
let pieces: (text: string) => { index: number; text: string }[];

beforeAll(async () => {
  full = getEncoding(ENCODING);
  tokenizer = await createTokenizer(ENCODING);
  const pattern = await O200K_PATTERN();
  pieces = (text) => [...text.matchAll(new RegExp(pattern, 'ug'))].map((m) => ({ index: m.index, text: m[0] }));
});

const exact = (text: string): number => full.encode(text, [], []).length;
const unlimited = () => ({ remainingMs: Number.POSITIVE_INFINITY });

/** A clock that advances `stepMs` on every read and counts its reads. */
function tickingClock(stepMs: number) {
  let now = 0;
  const clock = () => {
    clock.reads += 1;
    now += stepMs;
    return now;
  };
  clock.reads = 0;
  return clock;
}

function repeatTo(length: number, make: (i: number) => string): string {
  let text = '';
  for (let i = 0; text.length < length; i++) text += make(i);
  return text;
}

const WORDS =
  'the of and a to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part'.split(
    ' ',
  );

function prose(seed: number, length: number): string {
  const next = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  return repeatTo(length, (i) => {
    const words = Array.from({ length: 6 + Math.floor(next() * 12) }, () => pick(WORDS));
    const sentence = words.join(' ');
    return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}${pick(['.', '!', '?', ', "quoted" it\'s', ': 42%.'])}${i % 7 === 6 ? '\n\n' : ' '}`;
  });
}

const SAMPLES: Record<string, string> = {
  prose: prose(1, 6_000),
  code: repeatTo(6_000, (i) =>
    [
      `// ${'='.repeat(77)}`,
      `export function handler${i}(req: Request, res: Response): void {`,
      `  const items = req.body?.items ?? [];`,
      `  for (let j = 0; j < items.length; j++) {`,
      `    if (items[j].value > ${i * 17}) {`,
      `\t\tres.status(400).json({ error: 'too big', index: j });`,
      `        return;   `,
      `    }`,
      `  }`,
      `}`,
      ``,
      `# ${'-'.repeat(100)}`,
      `def f_${i}(x):\r\n    return [y for y in x if y % 2 == 0]\r\n\r\n`,
    ].join('\n'),
  ),
  json: repeatTo(
    6_000,
    (i) =>
      JSON.stringify({
        id: `msg_${i}0123abcd`,
        role: 'user',
        content: [{ type: 'text', text: `Line ${i}: "hi" \\ {} []` }],
        n: i * 3.14,
      }) +
      '\n' +
      JSON.stringify({ nested: { deeper: { deepest: [1, 2, 3, { k: 'v' }] } }, flag: i % 2 === 0 }, null, 2) +
      '\n',
  ),
  cjk: repeatTo(6_000, (i) =>
    [
      '我们的文字处理系统需要准确地计算每一段文本的长度，',
      '以便在预算之内完成统计。',
      '日本語のテキストも同じように扱われます。トークン化は高速であるべきです！',
      '한국어 문장도 포함되어 있습니다. ',
      `第${i}章：测试数据（包括全角符号）。\n`,
    ].join(''),
  ),
  emoji: repeatTo(6_000, (i) => `Great job 🎉🎉 team! 👍🏽 Ship it 🚀 — v${i} ✅ ❤️‍🔥 👨‍👩‍👧‍👦 done.\n`),
  markdown: repeatTo(6_000, (i) =>
    [
      `## Section ${i}`,
      '',
      '| name | value | notes |',
      '|------|------:|:------|',
      `| a${i} | ${i} | *bold* and \`code\` |`,
      '',
      '- item one',
      '  - nested item',
      '',
      '```ts',
      'const x = 1;',
      '```',
      '',
      '---',
      '',
    ].join('\n'),
  ),
  whitespace: repeatTo(
    6_000,
    (i) => ['word', ' ', '  ', '\t', '\n', '\r\n', '\n\n  ', `${i}.`, '   \n', ' \t \n\n', 'x  ', '  0'][i % 12] ?? '',
  ),
};

function randomMix(seed: number, length: number): string {
  const next = seededRandom(seed);
  const alphabet = [
    ' ',
    '  ',
    '\n',
    '\r\n',
    '\t',
    'a',
    'Ab',
    'ing',
    '0',
    '123',
    '.',
    '/',
    '=',
    "'s",
    '漢字',
    '😀',
    '\u00a0',
    '-',
  ];
  return repeatTo(length, () => alphabet[Math.floor(next() * alphabet.length)] ?? '');
}

describe('ordinary text', () => {
  it.each(Object.keys(SAMPLES))('%s counts exactly as js-tiktoken encodes it', (kind) => {
    const text = SAMPLES[kind] ?? '';
    expect(text.length).toBeGreaterThan(4_000);
    // Below the bound: nothing of it is cut for length, so the count is today's.
    expect(Math.max(...pieces(text).map((p) => p.text.length))).toBeLessThanOrEqual(PIECE_BOUND_CHARS);
    expect(tokenizer.count(text)).toBe(exact(text));
    expect(tokenizer.measure(text, unlimited())).toEqual({ tokens: exact(text), approximate: false });
  });

  it('counts random mixes of whitespace, letters, digits, punctuation, CJK and emoji exactly, in many steps', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const text = randomMix(seed, 10_000);
      expect(tokenizer.count(text)).toBe(exact(text));
      expect(tokenizer.measure(text, unlimited()).tokens).toBe(exact(text));
    }
  });

  it('measure() cuts ordinary text into many steps and still counts it exactly', async () => {
    const clock = tickingClock(1);
    const stepped = await createTokenizer(ENCODING, { clock });
    const text = Object.values(SAMPLES).join('\n');
    expect(stepped.measure(text, unlimited())).toEqual({ tokens: exact(text), approximate: false });
    // Two clock reads per step: steps are at most 2,048 characters, so a 42 KB text takes more than 20.
    expect(clock.reads / 2).toBeGreaterThan(text.length / 2_048);
  });
});

describe('cutting at piece boundaries', () => {
  it.each(Object.keys(SAMPLES))('is exact for %s wherever no whitespace run ends against a non-space', (kind) => {
    const text = SAMPLES[kind] ?? '';
    const whole = exact(text);
    const boundaries = pieces(text).filter((p) => p.index > 0 && !/\s/.test(text.charAt(p.index - 1)));
    expect(boundaries.length).toBeGreaterThan(100);
    const step = Math.ceil(boundaries.length / 60);
    for (let i = 0; i < boundaries.length; i += step) {
      const at = boundaries[i]?.index ?? 0;
      expect(exact(text.slice(0, at)) + exact(text.slice(at))).toBe(whole);
    }
  });

  it('is not exact between spaces and a digit, which is why steps are not cut there', () => {
    // "\n\n  0": the whole text has pieces " " and " " before "0"; cut before "0", the end of input
    // lets `\s+(?!\S)` take both spaces as one piece.
    const text = 'a\n\n  0. Definitions';
    const at = text.indexOf('0');
    expect(pieces(text).some((p) => p.index === at)).toBe(true);
    expect(exact(text.slice(0, at)) + exact(text.slice(at))).not.toBe(exact(text));
    expect(tokenizer.measure(text, unlimited()).tokens).toBe(exact(text));
  });
});

describe('long pieces', () => {
  const RUNS: Record<string, string> = {
    letters: 'x',
    capitals: 'X',
    equals: '=',
    spaces: ' ',
    newlines: '\n',
    cjk: '漢',
    cjkText: '我们的文字处理系统',
    emoji: '😀',
  };
  const bytesOf = (text: string) => Buffer.byteLength(text, 'utf8');

  it.each(Object.keys(RUNS))('a run of %s deviates by at most one token per chunk of 64 bytes', (kind) => {
    const unit = RUNS[kind] ?? '';
    // The unsplit reference is quadratic: keep it to a few seconds per kind.
    const lengths =
      bytesOf(unit) / unit.length === 1 ? [65, 129, 300, 1_000, 2_000, 5_000] : [65, 129, 300, 700, 1_500];
    for (const length of lengths) {
      // Whole emoji only: half a surrogate pair is not a run of emoji.
      const run = repeatTo(length, () => unit).slice(0, length - (length % unit.length === 0 ? 0 : length % 2));
      const text = `Before it: ${run} and after.`;
      const chunks = Math.ceil(bytesOf(run) / CHUNK_BYTES) + 1;
      const split = tokenizer.count(text);
      if (length <= PIECE_BOUND_CHARS - 2) expect(split).toBe(exact(text));
      expect(Math.abs(split - exact(text))).toBeLessThanOrEqual(chunks);
      expect(tokenizer.measure(text, unlimited()).tokens).toBe(split);
    }
  });

  it('encodes a 200,000-character run in chunks of at most 64 bytes, one step each', async () => {
    for (const unit of ['=', 'x']) {
      const clock = tickingClock(1);
      const stepped = await createTokenizer(ENCODING, { clock });
      const run = unit.repeat(200_000);
      const measured = stepped.measure(run, unlimited());
      expect(measured.approximate).toBe(false);
      expect(clock.reads / 2).toBe(200_000 / CHUNK_BYTES);
      expect(measured.tokens).toBe(tokenizer.count(run));
      expect(measured.tokens).toBe((200_000 / CHUNK_BYTES) * exact(unit.repeat(CHUNK_BYTES)));
    }
  });

  it('never splits a surrogate pair', () => {
    const run = '😀'.repeat(1_000);
    // 64-byte chunks hold 16 emoji: 62 full chunks and one of 8. A split pair would encode as U+FFFD.
    expect(tokenizer.count(run)).toBe(62 * exact('😀'.repeat(16)) + exact('😀'.repeat(8)));
  });
});

describe('measure() within a budget', () => {
  it('equals count() with a budget that does not run out, and charges it', async () => {
    const clock = tickingClock(0.25);
    const stepped = await createTokenizer(ENCODING, { clock });
    const budget = { remainingMs: 1_000 };
    const text = SAMPLES.prose ?? '';
    expect(stepped.measure(text, budget)).toEqual({ tokens: tokenizer.count(text), approximate: false });
    expect(budget.remainingMs).toBe(1_000 - (clock.reads / 2) * 0.25);
  });

  it('stops at the budget on a 1 MB run and estimates the rest at 1 token per 4 characters', async () => {
    const clock = tickingClock(1);
    const stepped = await createTokenizer(ENCODING, { clock });
    const budget = { remainingMs: 10 };
    const run = 'x'.repeat(1_000_000);
    const measured = stepped.measure(run, budget);
    // Ten 1 ms steps of one 64-byte chunk: 640 characters encoded, too few to extrapolate from.
    expect(clock.reads).toBe(20);
    expect(budget.remainingMs).toBe(0);
    expect(measured).toEqual({
      tokens: 10 * exact('x'.repeat(64)) + Math.ceil((1_000_000 - 640) / 4),
      approximate: true,
    });
  });

  it('extrapolates the ratio of what it encoded once that is at least 1,000 characters', async () => {
    const clock = tickingClock(1);
    const stepped = await createTokenizer(ENCODING, { clock });
    const run = 'x'.repeat(1_000_000);
    const measured = stepped.measure(run, { remainingMs: 200 });
    const encodedTokens = 200 * exact('x'.repeat(64));
    const encodedChars = 200 * 64;
    expect(measured).toEqual({
      tokens: encodedTokens + Math.ceil((1_000_000 - encodedChars) * (encodedTokens / encodedChars)),
      approximate: true,
    });
  });

  it('shares the budget across the calls of a job: a call that starts with none does no work', async () => {
    const clock = tickingClock(1);
    const stepped = await createTokenizer(ENCODING, { clock });
    const budget = { remainingMs: 3 };
    expect(stepped.measure('x'.repeat(10_000), budget).approximate).toBe(true);
    const readsBefore = clock.reads;
    const text = SAMPLES.prose ?? '';
    expect(stepped.measure(text, budget)).toEqual({ tokens: Math.ceil(text.length / 4), approximate: true });
    expect(clock.reads).toBe(readsBefore);
    expect(budget.remainingMs).toBe(0);
    expect(stepped.calls).toBe(2);
  });

  it('with an exhausted budget never reads the clock', async () => {
    const stepped = await createTokenizer(ENCODING, {
      clock: () => {
        throw new Error('the clock was read');
      },
    });
    expect(stepped.measure('hello world', { remainingMs: 0 })).toEqual({ tokens: 3, approximate: true });
    expect(stepped.measure('', { remainingMs: 0 })).toEqual({ tokens: 0, approximate: false });
    expect(stepped.calls).toBe(1);
  });
});

describe('calls', () => {
  it('counts count() and measure() on non-empty text once each', async () => {
    const fresh = await createTokenizer(ENCODING);
    fresh.count('');
    fresh.count('a');
    fresh.measure('', unlimited());
    fresh.measure('b', unlimited());
    fresh.measure('x'.repeat(5_000), unlimited());
    expect(fresh.calls).toBe(3);
  });
});

describe('other encodings', () => {
  it.each(['cl100k_base', 'gpt2'] as const)(
    '%s: count() finds every long piece that measure() cuts',
    async (encoding) => {
      const other = await createTokenizer(encoding);
      for (let seed = 1; seed <= 10; seed++) {
        const next = seededRandom(seed);
        const runs = ['x', 'X', '=', ' ', '\n', '7', '漢', '😀', ' \n', './', "'s"];
        const text = repeatTo(3_000, () =>
          (runs[Math.floor(next() * runs.length)] ?? '').repeat(1 + Math.floor(next() * 200)),
        );
        expect(other.count(text)).toBe(other.measure(text, unlimited()).tokens);
      }
    },
  );
});
