// js-tiktoken, loaded only here: the ranks of one encoding cost seconds and ~140 MB (docs/MEASURED.md §5), so
// the worker loads the single ranks file it is configured for, once per process, and the gateway never.
// Its BPE is quadratic in the bytes of each pre-tokenised piece, so no piece longer than
// PIECE_BOUND_CHARS reaches it whole: docs/USAGE.md, "Tokenising in linear time, within a budget".
import type { Tiktoken, TiktokenBPE } from 'js-tiktoken/lite';
import type { TokenEncoding } from '@switchyard/shared';

/**
 * A piece (a match of the encoding's pattern) longer than this many UTF-16 code units is cut into
 * chunks of at most CHUNK_BYTES UTF-8 bytes (so at most this many code units), each encoded on its own.
 * 128 leaves every piece of ordinary prose, code, JSON and markdown whole (banners of 80–120 `=`
 * included), so their counts are exact (docs/USAGE.md, "Tokenising in linear time, within a budget").
 */
export const PIECE_BOUND_CHARS = 128;

/**
 * Milliseconds of tokeniser time one usage job may spend before the rest of its text is estimated from
 * length. 1 MB of ordinary English prose seen for the first time took 310–440 ms on the 2-core machine
 * measured in docs/USAGE.md, so it is counted exactly; a hostile job holds the worker about this long.
 */
export const DEFAULT_JOB_TOKENIZER_BUDGET_MS = 500;

/** Tokeniser time left to one job, shared by all of its measure() calls; the caller creates one per job. */
export interface TokenBudget {
  remainingMs: number;
}

/** A token count; `approximate` when part of it was estimated from length because the budget ran out. */
export interface TokenMeasure {
  tokens: number;
  approximate: boolean;
}

/** What the usage handler needs of a tokeniser; tests wrap it to count calls. */
export interface Tokenizer {
  readonly encoding: TokenEncoding;
  /** The number of tokens of `text` under the encoding; special-token markers count as plain text. */
  count(text: string): number;
  /**
   * Like count(), in steps charged to `budget`; once it is spent, the rest is estimated from length.
   * @example
   * const budget = { remainingMs: DEFAULT_JOB_TOKENIZER_BUDGET_MS };
   * const { tokens, approximate } = tokenizer.measure(text, budget);
   */
  measure(text: string, budget: TokenBudget): TokenMeasure;
  /** How many times count() or measure() was asked to tokenise non-empty text. */
  readonly calls: number;
}

export interface TokenizerOptions {
  /** Milliseconds, monotonic; measure() charges the budget with its differences. */
  clock?: () => number;
}

type RanksModule = { default: TiktokenBPE };

// Literal specifiers, one per encoding, so a bundler or reader sees exactly what can be loaded and only
// the configured one is.
const RANKS: Record<TokenEncoding, () => Promise<RanksModule>> = {
  o200k_base: () => import('js-tiktoken/ranks/o200k_base'),
  cl100k_base: () => import('js-tiktoken/ranks/cl100k_base'),
  p50k_base: () => import('js-tiktoken/ranks/p50k_base'),
  p50k_edit: () => import('js-tiktoken/ranks/p50k_edit'),
  r50k_base: () => import('js-tiktoken/ranks/r50k_base'),
  gpt2: () => import('js-tiktoken/ranks/gpt2'),
};

interface Encoder {
  tiktoken: Tiktoken;
  /** The encoding's pre-tokenising pattern, as js-tiktoken uses it (flags 'ug'). */
  pattern: string;
}

// One encoder per encoding per process, however many tokenizers are created (tests create many).
const loaded = new Map<TokenEncoding, Promise<Encoder>>();

async function loadEncoder(encoding: TokenEncoding): Promise<Encoder> {
  const [{ Tiktoken: TiktokenClass }, ranks] = await Promise.all([import('js-tiktoken/lite'), RANKS[encoding]()]);
  const tiktoken = new TiktokenClass(ranks.default);
  // Warm up once (V8 compiles the pattern and the encode path on first use, tens of ms), so the first job's
  // budget pays for its own text only.
  tiktoken.encode('Warm-up: the quick brown fox, 42 times. \n  日本語 ==== ', [], []);
  return { tiktoken, pattern: ranks.default.pat_str };
}

function encoderFor(encoding: TokenEncoding): Promise<Encoder> {
  let encoder = loaded.get(encoding);
  if (!encoder) {
    encoder = loadEncoder(encoding);
    // A failed load must not be cached: the next caller tries again.
    void encoder.catch(() => loaded.delete(encoding));
    loaded.set(encoding, encoder);
  }
  return encoder;
}

// In every encoding's pattern a space is only ever the first character of a piece that is not all
// whitespace, so a piece longer than PIECE_BOUND_CHARS contains PIECE_BOUND_CHARS non-spaces in a row
// or is a longer run of whitespace. Text without either has no long piece and is encoded whole.
// Anchored at the start of a non-space run so that each run is scanned once (~1% of an encode on prose).
const MAY_HOLD_LONG_PIECE = new RegExp(`(?:^| )[^ ]{${PIECE_BOUND_CHARS}}|\\s{${PIECE_BOUND_CHARS + 1}}`);

// A step is at most this many characters: ordinary prose costs 0.2–0.4 µs a character, well under 1 ms.
const STEP_CHARS = 2_048;
// BPE costs grow with the square of a piece's length; a step's pieces stay within one longest piece's.
const STEP_WORK = PIECE_BOUND_CHARS ** 2;
// The length estimate extrapolates the text's own ratio only from a sample at least this long.
const RATIO_SAMPLE_CHARS = 1_000;
const CHARS_PER_TOKEN_GUESS = 4;

// BPE costs ~0.074·n² µs for a chunk of n bytes: 64 bytes is ~0.3 ms, ~5 µs a byte of a long run.
const CHUNK_BYTES = 64;

function utf8Bytes(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : 3;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Cuts a long piece into chunks of at most CHUNK_BYTES UTF-8 bytes, never inside a surrogate pair. */
function* chunksOf(piece: string): Generator<string> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < piece.length;) {
    const code = piece.charCodeAt(i);
    const width = isHighSurrogate(code) && i + 1 < piece.length ? 2 : 1;
    const size = width === 2 ? 4 : utf8Bytes(code);
    if (bytes + size > CHUNK_BYTES) {
      yield piece.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += size;
    i += width;
  }
  yield piece.slice(start);
}

const WHITESPACE = /\s/;

/**
 * Whether encoding text[..at] and text[at..] separately gives the tokens of the whole, where `at` ends
 * the piece that starts at `pieceStart`. The patterns have no lookbehind and one lookahead, `\s+(?!\S)`,
 * which sees the end of input where the whole text has the next character: it differs only where a
 * whitespace run ending at `at` is followed by a non-space and may be a piece of its own (docs/USAGE.md).
 */
function isExactCut(text: string, at: number, pieceStart: number): boolean {
  return (
    !WHITESPACE.test(text.charAt(at - 1)) ||
    WHITESPACE.test(text.charAt(at)) ||
    !WHITESPACE.test(text.charAt(pieceStart))
  );
}

/**
 * The text in consecutive steps: runs of whole pieces cut where that is exact, each at most STEP_CHARS
 * long and STEP_WORK in squared piece lengths, and the chunks of each long piece.
 */
function* stepsOf(text: string, pattern: string): Generator<string> {
  const pieces = new RegExp(pattern, 'ug');
  let start = 0;
  let work = 0;
  let previous = 0;
  for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
    const at = match.index;
    const length = match[0].length;
    if (length > PIECE_BOUND_CHARS) {
      if (at > start) yield text.slice(start, at);
      yield* chunksOf(match[0]);
      start = at + length;
      work = 0;
    } else {
      const full = work + length * length > STEP_WORK || at + length - start > STEP_CHARS;
      if (full && at > start && isExactCut(text, at, previous)) {
        yield text.slice(start, at);
        start = at;
        work = 0;
      }
      work += length * length;
    }
    previous = at;
  }
  if (start < text.length) yield text.slice(start);
}

function estimateFromLength(restChars: number, encodedTokens: number, encodedChars: number): number {
  const tokensPerChar = encodedChars >= RATIO_SAMPLE_CHARS ? encodedTokens / encodedChars : 1 / CHARS_PER_TOKEN_GUESS;
  return Math.ceil(restChars * tokensPerChar);
}

/**
 * A tokenizer for one encoding with its own call counter; the encoder behind it is loaded once per process.
 * @example
 * const tokenizer = await createTokenizer('o200k_base');
 * tokenizer.count('hello world'); // 2
 */
export async function createTokenizer(encoding: TokenEncoding, opts: TokenizerOptions = {}): Promise<Tokenizer> {
  const { tiktoken, pattern } = await encoderFor(encoding);
  const clock = opts.clock ?? (() => performance.now());
  let calls = 0;
  // No special tokens allowed or refused: a prompt that contains "<|endoftext|>" is text, not a marker.
  const encode = (text: string): number => tiktoken.encode(text, [], []).length;
  return {
    encoding,
    count(text) {
      if (text === '') return 0;
      calls += 1;
      if (!MAY_HOLD_LONG_PIECE.test(text)) return encode(text);
      let tokens = 0;
      for (const step of stepsOf(text, pattern)) tokens += encode(step);
      return tokens;
    },
    measure(text, budget) {
      if (text === '') return { tokens: 0, approximate: false };
      calls += 1;
      const steps = stepsOf(text, pattern);
      let tokens = 0;
      let encodedChars = 0;
      while (encodedChars < text.length) {
        if (budget.remainingMs <= 0) {
          return {
            tokens: tokens + estimateFromLength(text.length - encodedChars, tokens, encodedChars),
            approximate: true,
          };
        }
        const started = clock();
        // Finding the step (the pattern's scan) is charged with its encoding.
        const step = steps.next();
        if (step.done) break;
        tokens += encode(step.value);
        encodedChars += step.value.length;
        budget.remainingMs -= clock() - started;
      }
      return { tokens, approximate: false };
    },
    get calls() {
      return calls;
    },
  };
}
