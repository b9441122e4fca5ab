// What the gateway and the usage worker agree on about counting: block identity and countable text.
export { canonicalJson } from './canonical-json.js';
export { blockHash, blocksFromStream, countableText, promptBlocks } from './content-blocks.js';
export type { ContentBlock, PromptParts, StreamEventText } from './content-blocks.js';
export { USAGE_COUNTER_FIELDS, sentTokens } from './usage-counters.js';
export type { UsageCounterField, UsageCounters } from './usage-counters.js';
export { RECENT_REQUESTS_KEPT, RecentRequestSchema } from './recent-request.js';
export type { RecentRequest } from './recent-request.js';
