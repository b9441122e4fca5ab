// The `switchyard` CLI as operators run it (`node cli/bin/switchyard.js …`, what `npx switchyard` runs) against a
// real chain: gateway, two node-agents dialled in, the usage worker and the fake upstream. Create a key, use it, see
// it in the tables and in usage, drain a node, enrol and revoke nodes, revoke the key; every mistake is one line with
// its fix. (nodes.int.test.ts checks the node commands' output in detail against the admin router alone.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeyspace } from '@switchyard/shared';
import { baseChildEnv, freePort, testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(120_000);

const ROOT = process.cwd();
const BIN = resolve(ROOT, 'cli/bin/switchyard.js');
const MODEL = 'claude-sonnet-4-6';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let chain: Stack;
let redis: Redis;

/** Runs the CLI; `env` replaces the connection variables (the default points at the chain). */
function cli(
  args: string[],
  opts: {
    env?: Record<string, string>;
    stdin?: (out: string, write: (s: string) => void) => void;
    command?: string[];
  } = {},
): Promise<Run> {
  const env = {
    ...baseChildEnv(),
    ...(opts.env ?? { SWITCHYARD_URL: chain.gatewayUrl, SWITCHYARD_ADMIN_TOKEN: chain.adminToken }),
  };
  const [exe, ...pre] = opts.command ?? [process.execPath, BIN];
  const proc = spawn(exe ?? process.execPath, [...pre, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    opts.stdin?.(stdout, (s) => proc.stdin.write(s));
  });
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  if (!opts.stdin) proc.stdin.end();
  return new Promise((done) => proc.once('close', (code) => done({ code, stdout, stderr })));
}

function sendMessage(key: string): Promise<Response> {
  return fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Which track for the 8:15?' }],
    }),
  });
}

/** Waits until the worker has counted `n` requests for the key (read straight from the admin API). */
async function waitForCount(keyId: string, n: number): Promise<void> {
  let last: unknown;
  await waitFor(
    `usage to reach ${n} for ${keyId}`,
    async () => {
      const report = (await (await chain.admin('GET', '/usage?by=key')).json()) as {
        rows: { id: string; requests: number }[];
      };
      last = report;
      return (report.rows.find((r) => r.id === keyId)?.requests ?? 0) >= n;
    },
    { timeoutMs: 30_000, intervalMs: 200, detail: () => JSON.stringify(last) },
  );
}

/** Waits until the gateway's fleet snapshot (refreshed on an interval) shows the node's drain switch. */
async function waitForDrained(nodeId: string, drained: boolean): Promise<void> {
  let last: unknown;
  await waitFor(
    `${nodeId} to show adminDrained=${drained}`,
    async () => {
      const { nodes } = (await (await chain.admin('GET', '/nodes')).json()) as {
        nodes: { nodeId: string; adminDrained: boolean }[];
      };
      last = nodes;
      return nodes.find((n) => n.nodeId === nodeId)?.adminDrained === drained;
    },
    { timeoutMs: 15_000, intervalMs: 100, detail: () => JSON.stringify(last) },
  );
}

/** A failure as the CLI must report it: exit code ≠ 0, nothing on stdout, exactly one line on stderr. */
function expectOneLineError(run: Run, code: number): string {
  expect({ code: run.code, stdout: run.stdout, lines: run.stderr.split('\n').filter((l) => l !== '').length }).toEqual({
    code,
    stdout: '',
    lines: 1,
  });
  return run.stderr.trim();
}

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true });
  await chain.waitReady();
  redis = new Redis(testRedisUrl());
});

afterAll(async () => {
  await chain?.stop();
  if (redis) {
    redis.disconnect();
  }
});

describe('switchyard CLI against a real gateway', () => {
  const name = `ops-${randomBytes(3).toString('hex')}`;
  let key = '';
  let keyId = '';

  it('creates a key, prints it once, and the key works through the gateway', async () => {
    const run = await cli(['keys', 'create', name, '--rpm', '1200', '--models', `${MODEL},claude-haiku-4-5`]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const printed = /^ {4}(\S+)$/m.exec(run.stdout);
    key = printed?.[1] ?? '';
    keyId = /\((key_[0-9a-f]+)\)/.exec(run.stdout)?.[1] ?? '';
    expect(run.stdout).toContain('This is the only time the key is shown');
    expect(run.stdout).toContain('1,200 requests/min');
    expect(keyId).not.toBe('');

    const answers = await Promise.all([sendMessage(key), sendMessage(key), sendMessage(key)]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('lists the key in a table and as JSON, never showing the key itself', async () => {
    const table = await cli(['keys', 'list']);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(
      /^ID\s+NAME\s+KEY\s+STATUS\s+RPM\s+CONCURRENCY\s+TOKENS\/DAY\s+USD\/DAY\s+USD\/MONTH\s+MODELS\s+BETAS\s+EXPIRES\s+CREATED$/,
    );
    const row = rows.find((r) => r.startsWith(keyId)) ?? '';
    expect(row.split(/\s{2,}/)).toEqual([
      keyId,
      name,
      expect.stringMatching(/…/),
      'active',
      '1,200',
      '-',
      '-',
      '-',
      '-',
      `${MODEL},claude-haiku-4-5`,
      'any',
      'never',
      expect.stringMatching(/ago$|^now$/),
    ]);
    expect(table.stdout).not.toContain(key);

    const json = await cli(['keys', 'list', '--json']);
    const parsed = JSON.parse(json.stdout) as { keys: Record<string, unknown>[] };
    expect(parsed.keys.find((k) => k.id === keyId)).toMatchObject({
      name,
      rpm: 1200,
      allowedModels: [MODEL, 'claude-haiku-4-5'],
    });
    expect(json.stdout).not.toContain(key);
    expect(json.stdout).not.toContain('digest');
  });

  it('shows and updates the key', async () => {
    const updated = await cli([
      'keys',
      'update',
      keyId,
      '--rpm',
      'none',
      '--daily-tokens',
      '250000',
      '--daily-usd',
      '12.5',
      '--monthly-usd',
      '$100',
      '--expires',
      '30d',
    ]);
    expect(updated.code).toBe(0);
    const shown = await cli(['keys', 'show', keyId]);
    expect(shown.stdout).toMatch(/^requests\/min:\s+-$/m);
    expect(shown.stdout).toMatch(/^tokens\/day:\s+250,000$/m);
    expect(shown.stdout).toMatch(/^USD\/day:\s+\$12\.50$/m);
    expect(shown.stdout).toMatch(/^USD\/month:\s+\$100\.00$/m);
    expect(shown.stdout).toMatch(/^expires:\s+in (29d 23h|30d)$/m);
    const record = JSON.parse((await cli(['keys', 'show', keyId, '--json'])).stdout) as {
      rpm: unknown;
      dailyTokenBudget: unknown;
    };
    expect(record).toMatchObject({ rpm: null, dailyTokenBudget: 250_000, dailyUsdBudget: 12.5, monthlyUsdBudget: 100 });
  });

  it('shows the usage the worker counted for the key, and the recent requests', async () => {
    await waitForCount(keyId, 3);
    const api = (await (await chain.admin('GET', '/usage?by=key')).json()) as {
      rows: { id: string; requests: number; sentTokens: number; receivedTokens: number }[];
    };
    const counted = api.rows.find((r) => r.id === keyId);

    const table = await cli(['usage', '--by', 'key']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^Token usage by key, \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2} \(UTC days\)$/m);
    const row = table.stdout.split('\n').find((l) => l.startsWith(keyId)) ?? '';
    const cells = row.split(/\s{2,}/);
    // KEY, NAME, REQUESTS, OPENAI (none: they came as Messages requests), ERRORS, SENT, RECEIVED.
    expect(cells.slice(0, 7)).toEqual([
      keyId,
      name,
      '3',
      '0',
      '0',
      (counted?.sentTokens ?? -1).toLocaleString('en-US'),
      (counted?.receivedTokens ?? -1).toLocaleString('en-US'),
    ]);
    expect(table.stdout).toMatch(/^TOTAL\s+3\s/m);

    const json = JSON.parse((await cli(['usage', '--by', 'key', '--json'])).stdout) as {
      by: string;
      rows: { id: string; requests: number }[];
    };
    expect(json.by).toBe('key');
    expect(json.rows.find((r) => r.id === keyId)?.requests).toBe(3);

    const recent = await cli(['usage', 'recent', '--limit', '5']);
    const recentRows = recent.stdout.split('\n').filter((l) => l.includes(keyId));
    expect(recentRows).toHaveLength(3);
    for (const line of recentRows)
      expect(line).toMatch(new RegExp(`${keyId}\\s+node-[ab]\\s+${MODEL}\\s+200\\s+no\\s`));
  });

  it('lists the nodes, drains one and resumes it', async () => {
    // A node learns its account's email from the profile after it joined and reports it on its tunnel: wait for it.
    // Its 5-hour window comes from the rate-limit headers of the requests it served: the table shows it for a node
    // that served one (the earlier tests' requests went to one node or both, by the routing's draw), '-' otherwise.
    let seen: { nodeId: string; accountLabel?: string; fiveHour?: unknown }[] = [];
    await waitFor(
      'both nodes reporting their account label',
      async () => {
        seen = ((await (await chain.admin('GET', '/nodes')).json()) as { nodes: typeof seen }).nodes;
        return seen.length === 2 && seen.every((n) => n.accountLabel !== undefined);
      },
      { timeoutMs: 20_000, detail: () => JSON.stringify(seen) },
    );
    expect(seen.filter((n) => n.fiveHour !== undefined).length).toBeGreaterThan(0);
    const list = await cli(['nodes', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+LABEL\s+ACCOUNT\s+STATE\s+5H\s+7D\s+RUNS OUT\s+IN FLIGHT\s+REPORTED\s+VERSION$/);
    for (const nodeId of ['node-a', 'node-b']) {
      const cells = (lines.find((l) => l.startsWith(`${nodeId} `)) ?? '').split(/\s{2,}/);
      const windowKnown = seen.find((n) => n.nodeId === nodeId)?.fiveHour !== undefined;
      expect(cells.slice(2, 5)).toEqual([
        `${nodeId}@example.test`,
        'available',
        windowKnown ? (expect.stringMatching(/^\d+%, resets in \S+/) as string) : '-',
      ]);
    }
    expect(list.stdout).toContain('2 of 2 nodes connected to this gateway');

    expect((await cli(['nodes', 'drain', 'node-a'])).stdout).toContain('Drained node-a');
    await waitForDrained('node-a', true);
    const drained = (await cli(['nodes', 'list'])).stdout.split('\n').find((l) => l.startsWith('node-a'));
    expect(drained).toMatch(/available, drained/);
    const nodes = JSON.parse((await cli(['nodes', 'list', '--json'])).stdout) as {
      nodes: { nodeId: string; adminDrained: boolean }[];
    };
    expect(nodes.nodes.map((n) => [n.nodeId, n.adminDrained]).sort()).toEqual([
      ['node-a', true],
      ['node-b', false],
    ]);
    expect((await cli(['nodes', 'resume', 'node-a'])).code).toBe(0);
    await waitForDrained('node-a', false);
    expect((await cli(['nodes', 'list'])).stdout).not.toContain('drained');
  });

  it('adds a node: its three .env lines; it is listed offline until it dials in; rotate and revoke', async () => {
    const added = await cli(['nodes', 'add', 'node-c', '--label', 'spare account']);
    expect(added.code).toBe(0);
    const lines = added.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `GATEWAY_URL=${chain.gatewayUrl}`,
      'NODE_ID=node-c',
      expect.stringMatching(/^NODE_TOKEN=syn-\w{49}$/) as string,
    ]);
    expect(added.stderr).toMatch(/^Enrolled node node-c\. The token is shown only this once/);
    expect((await cli(['nodes', 'list'])).stdout.split('\n').find((l) => l.startsWith('node-c'))).toMatch(
      /^node-c\s+spare account\s+-\s+offline\s/,
    );
    const rotated = await cli(['nodes', 'rotate', 'node-c']);
    expect(rotated.stdout).toMatch(/^NODE_TOKEN=syn-\w{49}\n$/);
    expect(rotated.stdout).not.toContain(lines[2]);
    expect((await cli(['nodes', 'revoke', 'node-c'])).stdout).toMatch(/^Revoked node node-c/);
    expect((await cli(['nodes', 'list'])).stdout).not.toContain('node-c');
  });

  it('revokes the key: the gateway refuses it, the list drops it, and show says so in one line', async () => {
    const revoked = await cli(['keys', 'revoke', keyId]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`Revoked key ${keyId}`);
    // Gateways cache a key's record for up to 3 s (key-authenticator's tests hold that bound on a clock of their
    // own); here, across processes on a machine that may be loaded, the limit is only generous.
    await waitFor('the gateway to refuse the revoked key', async () => (await sendMessage(key)).status === 401, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect((await cli(['keys', 'list'])).stdout).not.toContain(keyId);
    expect(expectOneLineError(await cli(['keys', 'show', keyId]), 1)).toBe('switchyard: No key with this id');
  });
});

describe('switchyard CLI errors: one line on stderr, with the fix', () => {
  it('no token', async () => {
    const run = await cli(['keys', 'list'], { env: { SWITCHYARD_URL: chain.gatewayUrl } });
    expect(expectOneLineError(run, 1)).toBe('switchyard: no admin token: pass --token or set SWITCHYARD_ADMIN_TOKEN');
  });

  it('a token the gateway refuses', async () => {
    const wrong = randomBytes(32).toString('hex');
    const run = await cli(['nodes', 'list'], {
      env: { SWITCHYARD_URL: chain.gatewayUrl, SWITCHYARD_ADMIN_TOKEN: wrong },
    });
    expect(expectOneLineError(run, 1)).toBe(
      'switchyard: the gateway refused the admin token (check SWITCHYARD_ADMIN_TOKEN)',
    );
    const flag = await cli(['nodes', 'list', '--url', chain.gatewayUrl, '--token', wrong], { env: {} });
    expect(expectOneLineError(flag, 1)).toBe('switchyard: the gateway refused the admin token (check --token)');
  });

  it('ADMIN_TOKEN works too, and --url wins over SWITCHYARD_URL', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const run = await cli(['nodes', 'list', '--json', '--url', chain.gatewayUrl], {
      env: { SWITCHYARD_URL: closed, ADMIN_TOKEN: chain.adminToken },
    });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { nodes: unknown[] }).nodes).toHaveLength(2);
  });

  it('a gateway that is not there', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const run = await cli(['keys', 'list'], {
      env: { SWITCHYARD_URL: closed, SWITCHYARD_ADMIN_TOKEN: chain.adminToken },
    });
    expect(expectOneLineError(run, 1)).toBe(
      `switchyard: cannot reach the gateway at ${closed} (is it running? set --url)`,
    );
  });

  it("the API's own message for a bad request", async () => {
    const run = await cli(['usage', '--from', '2026-02-30']);
    expect(expectOneLineError(run, 1)).toMatch(/^switchyard: Invalid query: from: not a calendar day$/);
    expect(expectOneLineError(await cli(['nodes', 'drain', 'no-such-node']), 1)).toBe(
      "switchyard: no enrolled node 'no-such-node' (see switchyard nodes list)",
    );
    expect(expectOneLineError(await cli(['nodes', 'add', 'node-a']), 1)).toMatch(
      /^switchyard: node 'node-a' is already enrolled \(a new token: switchyard nodes rotate node-a; /,
    );
  });

  it.each([
    [
      ['keys', 'frob'],
      /^switchyard: unknown command 'keys frob'\. Usage: switchyard keys <create\|list\|show\|update\|revoke> /,
    ],
    [['trains'], /^switchyard: unknown command 'trains'\. Usage: switchyard <keys\|nodes\|usage\|login\|help>/],
    [['keys', 'list', '--colour'], /^switchyard: unknown option --colour\. Usage: switchyard keys list \[--url URL\]/],
    [['keys', 'create'], /^switchyard: missing <name>\. Usage: switchyard keys create <name> \[--rpm N\]/],
    [
      ['keys', 'create', 'x', '--rpm', 'lots'],
      /^switchyard: --rpm expects a whole number above 0, or 'none'; got 'lots'$/,
    ],
    [['usage', '--by', 'colour'], /^switchyard: --by expects key, node, model or day; got 'colour'$/],
    [['keys', 'update', 'key_0'], /^switchyard: nothing to change: give --name, --rpm/],
    [
      ['nodes', 'add', 'a:b'],
      /^switchyard: invalid node id 'a:b': use 1-64 letters, digits, _ \. or - \(the node's NODE_ID\)\. Usage: switchyard nodes add <id>/,
    ],
    [
      ['nodes', 'frob'],
      /^switchyard: unknown command 'nodes frob'\. Usage: switchyard nodes <add\|list\|drain\|resume\|rotate\|revoke> /,
    ],
  ])('command-line mistake %j: the usage, exit code 2', async (args, message) => {
    expect(expectOneLineError(await cli(args), 2)).toMatch(message);
  });
});

describe('switchyard CLI from the repository', () => {
  it('runs as npx switchyard from the repo root: --help and --version', async () => {
    expect(existsSync(resolve(ROOT, 'node_modules/.bin/switchyard'))).toBe(true);
    const help = await cli(['--help'], { command: ['npx', '--no-install', 'switchyard'] });
    expect(help).toMatchObject({ code: 0, stderr: '' });
    const commands = [
      'keys create <name>',
      'keys list',
      'keys show <id>',
      'keys update <id>',
      'keys revoke <id>',
      'nodes add <id>',
      'nodes list',
      'nodes drain <id>',
    ];
    for (const command of [
      ...commands,
      'nodes resume <id>',
      'nodes rotate <id>',
      'nodes revoke <id>',
      'usage',
      'usage recent',
      'login',
    ]) {
      expect(help.stdout).toContain(`  ${command}`);
    }
    const version = await cli(['--version'], { command: ['npx', '--no-install', 'switchyard'] });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('login runs the node-agent login in this shell: URL out, pasted code in, credential on the volume (0600) and sealed at the gateway', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-cli-login-'));
    const nodeId = 'node-login';
    const enrolled = (await (await chain.admin('POST', '/nodes', { id: nodeId })).json()) as { token: string };
    let answered = false;
    try {
      const run = await cli(['login'], {
        env: {
          NODE_ID: nodeId,
          NODE_TOKEN: enrolled.token,
          GATEWAY_URL: chain.gatewayUrl,
          CREDENTIALS_DIR: dir,
          ANTHROPIC_BASE_URL: chain.fake.url,
          ANTHROPIC_OAUTH_TOKEN_URL: `${chain.fake.url}/v1/oauth/token`,
          OAUTH_AUTHORIZE_URL: `${chain.fake.url}/oauth/authorize`,
        },
        // The operator opens the printed URL (the fake approves at once and shows code#state) and pastes it.
        stdin: (out, write) => {
          const url = out.split('\n').find((l) => l.startsWith(`${chain.fake.url}/oauth/authorize`));
          if (answered || url === undefined || !out.includes('Paste the code')) return;
          answered = true;
          void fetch(url)
            .then((r) => r.text())
            .then((code) => write(`${code.trim()}\n`));
        },
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`Logged in as node-a@example.test; credential for node ${nodeId} stored in`);
      expect(statSync(join(dir, `${nodeId}.json`)).mode & 0o777).toBe(0o600);
      expect(await redis.get(createKeyspace(chain.prefix).sealedCredential(nodeId))).not.toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('switchyard nodes revoke on a connected node', () => {
  it('drops it from the fleet (every gateway polls the enrolments of its nodes, each second)', async () => {
    const revoked = await cli(['nodes', 'revoke', 'node-b']);
    expect(revoked.code).toBe(0);
    type Listed = { nodes: { nodeId: string }[]; enrolled: { nodeId: string }[] };
    const list = async () => (await (await chain.admin('GET', '/nodes')).json()) as Listed;
    const listed = await waitFor(
      'node-b gone from the fleet',
      async () => {
        const l = await list();
        return !l.nodes.some((n) => n.nodeId === 'node-b') && l;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(listed.nodes.map((n) => n.nodeId)).toEqual(['node-a']);
    expect(listed.enrolled.map((e) => e.nodeId)).not.toContain('node-b');
    expect((await cli(['nodes', 'list'])).stdout).not.toContain('node-b');
  });
});
