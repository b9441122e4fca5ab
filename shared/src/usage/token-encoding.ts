// Which tokeniser encoding the usage worker counts with. The gateway needs the name too (its block lookups are
// keyed by it), and checks it here without loading js-tiktoken, which only the worker does.
import { z } from 'zod';

/** The encodings js-tiktoken (1.0.21) ships ranks for. */
export const TOKEN_ENCODINGS = ['o200k_base', 'cl100k_base', 'p50k_base', 'p50k_edit', 'r50k_base', 'gpt2'] as const;

/**
 * TOKEN_ENCODING, as both the gateway and the usage worker read it: block counts are kept per encoding, so the
 * two must agree, and changing it starts a fresh table.
 */
export const TokenEncodingSchema = z.enum(TOKEN_ENCODINGS).default('o200k_base');
export type TokenEncoding = z.infer<typeof TokenEncodingSchema>;
