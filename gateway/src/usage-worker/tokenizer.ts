// js-tiktoken, loaded only here: the ranks of one encoding cost seconds and ~140 MB (MEASURED.md), so
// the worker loads the single ranks file it is configured for, once per process, and the gateway never.
import type { Tiktoken, TiktokenBPE } from 'js-tiktoken/lite';

/** The encodings js-tiktoken ships ranks for. */
export const TOKEN_ENCODINGS = ['o200k_base', 'cl100k_base', 'p50k_base', 'p50k_edit', 'r50k_base', 'gpt2'] as const;
export type TokenEncoding = (typeof TOKEN_ENCODINGS)[number];

/** What the usage handler needs of a tokeniser; tests wrap it to count calls. */
export interface Tokenizer {
  readonly encoding: TokenEncoding;
  /** The number of tokens of `text` under the encoding; special-token markers count as plain text. */
  count(text: string): number;
  /** How many times count() was asked to tokenise non-empty text. */
  readonly calls: number;
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

// One encoder per encoding per process, however many tokenizers are created (tests create many).
const loaded = new Map<TokenEncoding, Promise<Tiktoken>>();

async function loadEncoder(encoding: TokenEncoding): Promise<Tiktoken> {
  const [{ Tiktoken: TiktokenClass }, ranks] = await Promise.all([import('js-tiktoken/lite'), RANKS[encoding]()]);
  return new TiktokenClass(ranks.default);
}

function encoderFor(encoding: TokenEncoding): Promise<Tiktoken> {
  let encoder = loaded.get(encoding);
  if (!encoder) {
    encoder = loadEncoder(encoding);
    // A failed load must not be cached: the next caller tries again.
    void encoder.catch(() => loaded.delete(encoding));
    loaded.set(encoding, encoder);
  }
  return encoder;
}

/**
 * A tokenizer for one encoding with its own call counter; the encoder behind it is loaded once per process.
 * @example
 * const tokenizer = await createTokenizer('o200k_base');
 * tokenizer.count('hello world'); // 2
 */
export async function createTokenizer(encoding: TokenEncoding): Promise<Tokenizer> {
  const encoder = await encoderFor(encoding);
  let calls = 0;
  return {
    encoding,
    count(text) {
      if (text === '') return 0;
      calls += 1;
      // No special tokens allowed or refused: a prompt that contains "<|endoftext|>" is text, not a marker.
      return encoder.encode(text, [], []).length;
    },
    get calls() {
      return calls;
    },
  };
}
