// TEST ONLY, for deploy/smoke.sh, which runs it in the test image (deploy/smoke/Dockerfile): one Messages
// request through the gateway's edge with the official Anthropic SDK, its answer checked. Prints one JSON line
// (the message's id, text, stop reason and usage); exits 1 when the answer is not the expected one, 2 when
// the environment is incomplete.
//   ANTHROPIC_BASE_URL  the edge, e.g. http://edge:8080 (required, so it never falls back to the real API)
//   ANTHROPIC_API_KEY   a gateway key (this SDK sends it as Authorization: Bearer, curl as x-api-key: the gateway takes both)
//   SMOKE_REPLY_TEXT    the text the fake upstream answers with (its --response-text)
//   SMOKE_MODEL         the model asked for (default claude-sonnet-4-6)
/* eslint-disable no-restricted-syntax -- a test script run by hand in a container, configured by its environment alone */
import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.env.ANTHROPIC_BASE_URL;
const apiKey = process.env.ANTHROPIC_API_KEY;
const expected = process.env.SMOKE_REPLY_TEXT;
const model = process.env.SMOKE_MODEL || 'claude-sonnet-4-6';

const missing = Object.entries({ ANTHROPIC_BASE_URL: baseURL, ANTHROPIC_API_KEY: apiKey, SMOKE_REPLY_TEXT: expected })
  .filter(([, value]) => !value)
  .map(([name]) => name);
if (missing.length > 0) {
  process.stderr.write(`sdk-request: set ${missing.join(', ')}\n`);
  process.exit(2);
}

// No retries: a request that fails must fail here, not be sent twice (the smoke test counts them).
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
try {
  const message = await client.messages.create({
    model,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Say hello through Switchyard.' }],
  });
  const text = message.content
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('');
  process.stdout.write(
    `${JSON.stringify({ id: message.id, model: message.model, text, stop_reason: message.stop_reason, usage: message.usage })}\n`,
  );
  if (text !== expected || message.stop_reason !== 'end_turn') {
    process.stderr.write(
      `sdk-request: expected ${JSON.stringify(expected)} ending with end_turn, got ${JSON.stringify(text)} ending with ${message.stop_reason}\n`,
    );
    process.exit(1);
  }
} catch (error) {
  const status = error instanceof Anthropic.APIError ? ` (HTTP ${error.status})` : '';
  process.stderr.write(
    `sdk-request: the request failed${status}: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}
