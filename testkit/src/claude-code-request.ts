// A request shaped as Claude Code sends it (its headers, system blocks, tools, history and thinking).
/** A Claude Code–shaped request: its headers and a body of about `bytes` with system blocks, tools, history and thinking. */
export function claudeCodeRequest(opts: { sessionId: string; bytes?: number; key: string }): {
  headers: Record<string, string>;
  body: string;
} {
  const filler = 'x'.repeat(1_000);
  const history: unknown[] = [];
  const target = opts.bytes ?? 50_000;
  for (let i = 0; JSON.stringify(history).length < target - 6_000; i++) {
    history.push({ role: 'user', content: [{ type: 'text', text: `turn ${i} ${filler}` }] });
    history.push({ role: 'assistant', content: [{ type: 'text', text: `reply ${i} ${filler}` }] });
  }
  history.push({ role: 'user', content: [{ type: 'text', text: 'say hi', cache_control: { type: 'ephemeral' } }] });
  const body = {
    model: 'claude-sonnet-4-6',
    max_tokens: 32_000,
    stream: true,
    thinking: { type: 'adaptive' },
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli' },
      { type: 'text', text: 'You are Claude Code, a CLI for Claude.', cache_control: { type: 'ephemeral' } },
    ],
    tools: [
      {
        name: 'Bash',
        description: 'Run a command',
        input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
      },
    ],
    messages: history,
    metadata: { user_id: JSON.stringify({ device_id: 'a'.repeat(64), account_uuid: '', session_id: opts.sessionId }) },
  };
  return {
    body: JSON.stringify(body),
    headers: {
      authorization: `Bearer ${opts.key}`,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
      'user-agent': 'claude-cli/2.1.0 (external, cli)',
      'x-app': 'cli',
      'x-claude-code-session-id': opts.sessionId,
      'x-stainless-lang': 'js',
      'x-stainless-retry-count': '0',
    },
  };
}
