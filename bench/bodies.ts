// The request bodies the bench sends, built deterministically (same seed, same bytes on every run):
// a ~1 KB turn and a ~1 MB Claude Code turn (system blocks, 20 tools, a long history of text,
// tool_use and tool_result blocks, adaptive thinking, a session in metadata).
import { seededRandom } from '@switchyard/testkit';

const MODEL = 'claude-sonnet-4-6';

const WORDS = (
  'the a function returns value config request stream node gateway key token block cache file path line test ' +
  'error status header body parse write read buffer socket agent retry limit budget session model message tool ' +
  'result input output schema type string number array object index map set async await promise export import'
).split(' ');

const TOOL_NAMES = [
  'Task',
  'Bash',
  'Glob',
  'Grep',
  'LS',
  'ExitPlanMode',
  'Read',
  'Edit',
  'MultiEdit',
  'Write',
  'NotebookEdit',
  'WebFetch',
  'TodoWrite',
  'WebSearch',
  'BashOutput',
  'KillShell',
  'SlashCommand',
  'AskUserQuestion',
  'mcp__ide__getDiagnostics',
  'mcp__ide__executeCode',
];

function prose(random: () => number, chars: number): string {
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    const word = WORDS[Math.floor(random() * WORDS.length)] ?? 'x';
    out.push(word);
    length += word.length + 1;
  }
  return out.join(' ').slice(0, chars);
}

function codeLines(random: () => number, chars: number): string {
  const lines: string[] = [];
  let length = 0;
  for (let n = 1; length < chars; n++) {
    const line = `${String(n).padStart(5)}→  const ${prose(random, 8).replace(/\s/g, '_')} = ${prose(random, 30 + Math.floor(random() * 50))};`;
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join('\n').slice(0, chars);
}

function tool(random: () => number, name: string): Record<string, unknown> {
  return {
    name,
    description: prose(random, 600 + Math.floor(random() * 2_400)),
    input_schema: {
      type: 'object',
      properties: {
        [`${name.toLowerCase()}_input`]: { type: 'string', description: prose(random, 120) },
        timeout: { type: 'number', description: prose(random, 60) },
        description: { type: 'string', description: prose(random, 80) },
      },
      required: [`${name.toLowerCase()}_input`],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    },
  };
}

function metadata(sessionId: string): Record<string, unknown> {
  return { user_id: JSON.stringify({ device_id: 'd'.repeat(64), account_uuid: '', session_id: sessionId }) };
}

function exchange(random: () => number, turn: number, resultChars: number): unknown[] {
  const toolName = TOOL_NAMES[turn % TOOL_NAMES.length] ?? 'Read';
  const id = `toolu_bench${String(turn).padStart(14, '0')}`;
  return [
    { role: 'user', content: [{ type: 'text', text: prose(random, 80 + Math.floor(random() * 300)) }] },
    {
      role: 'assistant',
      content: [
        { type: 'text', text: prose(random, 60 + Math.floor(random() * 200)) },
        { type: 'tool_use', id, name: toolName, input: { [`${toolName.toLowerCase()}_input`]: prose(random, 40) } },
      ],
    },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: codeLines(random, resultChars) }] },
    { role: 'assistant', content: [{ type: 'text', text: prose(random, 100 + Math.floor(random() * 400)) }] },
  ];
}

/**
 * A Claude Code turn of about `targetBytes` (within 1%): the shape Claude Code sends, a long
 * conversation ending in a user message with a cache breakpoint.
 * @example
 * const body = claudeCodeBody({ targetBytes: 1 << 20, sessionId: 'bench-1mb', seed: 1 });
 */
export function claudeCodeBody(opts: { targetBytes: number; sessionId: string; seed: number }): Buffer {
  const random = seededRandom(opts.seed);
  const body = {
    model: MODEL,
    max_tokens: 32_000,
    stream: true,
    thinking: { type: 'adaptive' },
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli' },
      {
        type: 'text',
        text: `You are Claude Code, Anthropic's official CLI for Claude. ${prose(random, 12_000)}`,
        cache_control: { type: 'ephemeral' },
      },
    ],
    tools: TOOL_NAMES.map((name) => tool(random, name)),
    messages: [] as unknown[],
    metadata: metadata(opts.sessionId),
  };
  const last = {
    role: 'user',
    content: [
      { type: 'text', text: 'Now run the tests again and fix what fails.', cache_control: { type: 'ephemeral' } },
    ],
  };
  const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));
  let size = bytes(body) + bytes(last);
  for (let turn = 0; size < opts.targetBytes; turn++) {
    const room = opts.targetBytes - size;
    const turnMessages = exchange(
      random,
      turn,
      Math.max(200, Math.min(8_000 + Math.floor(random() * 8_000), room - 1_500)),
    );
    body.messages.push(...turnMessages);
    size += bytes(turnMessages);
  }
  body.messages.push(last);
  return Buffer.from(JSON.stringify(body));
}

/**
 * A small turn of about `targetBytes` (default 1 KB): a short system prompt and one user message.
 * @example
 * const body = smallBody({ sessionId: 'bench-1kb' });
 */
export function smallBody(opts: { sessionId: string; targetBytes?: number }): Buffer {
  const random = seededRandom(7);
  const target = opts.targetBytes ?? 1_024;
  const body = {
    model: MODEL,
    max_tokens: 4_096,
    stream: true,
    thinking: { type: 'adaptive' },
    system: [{ type: 'text', text: 'You are Claude Code, a CLI for Claude.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }],
    metadata: metadata(opts.sessionId),
  };
  const text = body.messages[0]?.content[0];
  if (text) text.text = prose(random, Math.max(10, target - Buffer.byteLength(JSON.stringify(body))));
  return Buffer.from(JSON.stringify(body));
}

/**
 * Claude Code's request headers (without a credential; the target adds its own).
 * @example
 * const headers = { ...claudeCodeHeaders('bench-1kb'), 'x-api-key': apiKey };
 */
export function claudeCodeHeaders(sessionId: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json',
    'anthropic-version': '2023-06-01',
    'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
    'user-agent': 'claude-cli/2.1.0 (external, cli)',
    'x-app': 'cli',
    'x-claude-code-session-id': sessionId,
    'x-stainless-lang': 'js',
    'x-stainless-retry-count': '0',
  };
}
