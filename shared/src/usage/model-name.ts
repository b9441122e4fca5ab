// The model a request named is client text, and it becomes part of Redis keys (usage:model:{model}:{day})
// and an index member. A key part may hold no whitespace or control characters (shared/src/redis/keys.ts),
// so a model the API will refuse anyway ("claude opus", a megabyte of text) would make the request
// uncountable. It is counted under a name that can be a key part instead.

/** The longest model name counted as sent; model ids are tens of characters. */
export const MAX_USAGE_MODEL_NAME = 128;

// What keys.ts refuses in an id (whitespace, control characters), and UTF-16 halves without their pair.
const UNSAFE = /[\s\p{Cc}]/gu;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The model name a request is counted under: as sent when it can be a key part; else its first
 * {@link MAX_USAGE_MODEL_NAME} UTF-16 units with whitespace and control characters as `_` and lone
 * surrogates as U+FFFD; `unknown` when nothing is left.
 *
 * @example usageModelName('claude-sonnet-4-6') // 'claude-sonnet-4-6'
 * @example usageModelName('claude opus\n') // 'claude_opus_'
 */
export function usageModelName(model: string): string {
  const name = (model.length > MAX_USAGE_MODEL_NAME ? model.slice(0, MAX_USAGE_MODEL_NAME) : model)
    .replace(LONE_SURROGATE, '\uFFFD')
    .replace(UNSAFE, '_');
  return name === '' ? 'unknown' : name;
}
