// What the OpenAI format costs: the same 1 KB streamed request sent through the chain twice, as a Messages
// request and as its Chat Completions equivalent (docs/OPENAI.md), alternating ABBA. The difference is the
// gateway's translation of the request and of the stream, nothing else: both reach the fake as the same body.
import { CHAT_WIRE, exchange, MESSAGES_WIRE, type Exchange } from '../client.js';
import type { BenchContext } from '../context.js';
import { compare, type Comparison } from './latency.js';

const MODEL = 'claude-sonnet-4-6';
const SYSTEM = 'You are a concise assistant.';

/** ~1 KB of user text, the same in both formats. */
function userText(): string {
  const words = 'the gateway translates each request and its stream back for clients that speak another format'.split(
    ' ',
  );
  const out: string[] = [];
  for (let i = 0; out.join(' ').length < 900; i++) out.push(words[i % words.length] as string);
  return out.join(' ');
}

/**
 * The pair: a Chat Completions body, and the Messages body it translates to, written by hand from the table.
 * @example
 * const { chat, messages } = openAiPair();
 */
export function openAiPair(): { chat: Buffer; messages: Buffer } {
  const text = userText();
  const chat = {
    model: MODEL,
    max_tokens: 4_096,
    stream: true,
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: text },
    ],
  };
  const messages = {
    model: MODEL,
    max_tokens: 4_096,
    stream: true,
    system: [{ type: 'text', text: SYSTEM }],
    messages: [{ role: 'user', content: text }],
  };
  return { chat: Buffer.from(JSON.stringify(chat)), messages: Buffer.from(JSON.stringify(messages)) };
}

const MESSAGES_HEADERS = {
  'content-type': 'application/json',
  'anthropic-version': '2023-06-01',
  'user-agent': 'bench-messages',
};
const CHAT_HEADERS = { 'content-type': 'application/json', 'user-agent': 'bench-openai' };

/**
 * `n` sequential streamed requests per format through the chain, alternating; the metric is the whole
 * response. In the result, `direct` is the Messages format and `chain` the OpenAI format (both went through
 * the chain), so `added` is what the translation adds.
 * @example
 * const result = await openAiFormatLatency(ctx, 500);
 */
export async function openAiFormatLatency(ctx: BenchContext, n: number): Promise<Comparison> {
  const target = ctx.target('chain', 4);
  const { chat, messages } = openAiPair();
  const asMessages = (): Promise<Exchange> => exchange(target, messages, MESSAGES_HEADERS, { wire: MESSAGES_WIRE });
  const asChat = (): Promise<Exchange> => exchange(target, chat, CHAT_HEADERS, { wire: CHAT_WIRE });
  for (let i = 0; i < ctx.counts.warmup; i++) {
    await asMessages();
    await asChat();
  }
  const samples = { messages: [] as number[], chat: [] as number[] };
  const failed: Exchange[] = [];
  for (let i = 0; i < n; i++) {
    for (const format of i % 2 === 0 ? (['messages', 'chat'] as const) : (['chat', 'messages'] as const)) {
      const x = await (format === 'messages' ? asMessages() : asChat());
      // compare() tells the two sides apart by route: the Messages side stands where `direct` does.
      if (!x.ok) failed.push({ ...x, route: format === 'messages' ? 'direct' : 'chain' });
      else samples[format].push(x.totalMs);
    }
  }
  return compare(samples.messages, samples.chat, failed);
}
