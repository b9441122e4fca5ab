// What the gateway and the usage worker agree on about counting: block identity and countable text.
export { canonicalJson, canonicalJsonWithDepth } from './canonical-json.js';
export type { CanonicalJson } from './canonical-json.js';
export {
  STAND_IN_BLOCK_TYPE,
  blockHash,
  blocksFromStream,
  countableText,
  isStandIn,
  promptBlocks,
  standInBlock,
} from './content-blocks.js';
export type { ContentBlock, PromptParts, StreamEventText } from './content-blocks.js';
export { MAX_PORTABLE_BLOCK_DEPTH, blockIdentity, nestsDeeperThan, portableContent } from './portable-block.js';
export type { BlockIdentity } from './portable-block.js';
export { usageModelName } from './model-name.js';
export { TOKEN_ENCODINGS, TokenEncodingSchema } from './token-encoding.js';
export type { TokenEncoding } from './token-encoding.js';
export { EXACT_TOKEN_FIELDS, USAGE_COUNTER_FIELDS, USAGE_ROUTES, budgetTokens, sentTokens } from './usage-counters.js';
export type { UsageCounterField, UsageCounters, UsageRoute } from './usage-counters.js';
export { RECENT_REQUESTS_KEPT, RecentRequestSchema } from './recent-request.js';
export type { RecentRequest } from './recent-request.js';
