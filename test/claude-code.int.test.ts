// The real Claude Code CLI (the pinned @anthropic-ai/claude-code devDependency) pointed at a gateway the way the
// README tells users to: ANTHROPIC_BASE_URL + ANTHROPIC_AUTH_TOKEN with a gateway key. Two turns of one session
// (`--resume`): both answered through gateway → node → fake upstream, both on the same account (the session
// stays on its node), Claude Code's own headers and body reach the upstream untouched, and both are counted.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack, testRedisUrl, waitFor } from '@switchyard/testkit';

jest.setTimeout(120_000);

const CLAUDE = join(__dirname, '..', 'node_modules', '.bin', 'claude');
let chain: Stack;
let home: string;
let key: string;

interface ClaudeResult {
  is_error: boolean;
  result: string;
  session_id: string;
  usage: { output_tokens: number };
}

/** Runs `claude -p` like a user would, with nothing of this machine's own Claude setup (a fresh HOME). */
function claude(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: chain.gatewayUrl,
    ANTHROPIC_AUTH_TOKEN: key,
    // Nothing but the API calls: no update checks, telemetry or other traffic off this machine.
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(CLAUDE, ['-p', ...args, '--output-format', 'json'], {
      env,
      cwd: home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function parseResult(out: { code: number | null; stdout: string; stderr: string }): ClaudeResult {
  if (out.code !== 0)
    throw new Error(`claude exited ${out.code}: ${out.stdout.slice(0, 500)} ${out.stderr.slice(0, 500)}`);
  return JSON.parse(out.stdout) as ClaudeResult;
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'sy-claude-home-'));
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true });
  await chain.waitReady();
  key = (await chain.createKey({ name: 'claude-code' })).key;
});
afterAll(async () => {
  await chain?.stop();
  rmSync(home, { recursive: true, force: true });
});

it('answers two turns of one Claude Code session on one account, forwarded untouched, and counts them', async () => {
  const first = parseResult(await claude(['Say hello']));
  expect(first.is_error).toBe(false);
  expect(first.result).toContain('fake Anthropic upstream');

  const second = parseResult(await claude(['--resume', first.session_id, 'And once more']));
  expect(second.is_error).toBe(false);
  expect(second.session_id).toBe(first.session_id);

  // Every turn that reached the upstream carries Claude Code's session header and its own user agent, and
  // the conversation's turns all went to one account.
  const turns = chain.fake.requests.filter(
    (r) => r.route === 'messages' && r.headers['x-claude-code-session-id'] === first.session_id,
  );
  expect(turns.length).toBeGreaterThanOrEqual(2);
  expect(new Set(turns.map((r) => r.accountId)).size).toBe(1);
  for (const t of turns) {
    expect(t.headers['user-agent']).toMatch(/^claude-cli\//);
    expect(t.status).toBe(200);
  }

  // The usage worker counted exactly what the upstream answered for this key.
  const row = await waitFor(
    `the ${turns.length} turns counted`,
    async () => {
      const report = (await (await chain.admin('GET', '/usage?by=key')).json()) as {
        rows: { name?: string; requests: number; outputTokens: number }[];
      };
      const found = report.rows.find((r) => r.name === 'claude-code');
      return (found?.requests ?? 0) >= turns.length && found;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  expect(row?.requests).toBe(turns.length);
  expect(row?.outputTokens).toBe(first.usage.output_tokens + second.usage.output_tokens);
});
