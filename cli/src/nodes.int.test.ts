// `switchyard nodes add|list|rotate|revoke|drain|resume` against the gateway's real admin router on a real Redis
// (in this process, with a registry of one connected node): what an operator types, exactly what is printed where,
// and what the gateway then holds. The chain test (cli.int.test.ts) runs the same commands against a whole fleet.
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  initialAccountState,
  type SharedStore,
} from '@switchyard/shared';
import { baseChildEnv, scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createAdminRouter } from '../../gateway/src/admin/index.js';
import { createEnrolmentRepository, type EnrolmentRepository } from '../../gateway/src/nodes/index.js';
import type { NodeView } from '../../gateway/src/routing/index.js';
import { runCli } from './run.js';

const BIN = resolve(process.cwd(), 'cli/bin/switchyard.js');
const ADMIN_TOKEN = randomBytes(32).toString('hex');

interface Run {
  code: number;
  out: string[];
  err: string[];
}

const prefix = uniquePrefix('cli-nodes');
const keys = createKeyspace(prefix);
let client: Redis;
let store: SharedStore;
let enrolments: EnrolmentRepository;
let server: Server;
let url = '';
let connected: NodeView[] = [];

function view(nodeId: string): NodeView {
  const now = Date.now();
  // Apart from the literal: whatever the registry's record type carries, the CLI shows no address.
  const record = {
    nodeId,
    url: 'http://10.0.0.9:9999',
    accountKind: 'oauth' as const,
    accountLabel: `${nodeId}@example.test`,
    state: initialAccountState(now - 1000),
    inFlight: 1,
    version: '0.3.0',
    gitSha: 'abcdef1234',
    startedAt: now - 60_000,
    heartbeatAt: now - 2000,
  };
  return { record, adminDrained: false };
}

/** The CLI in this process, as `switchyard <args>` with the connection in its environment. */
async function cli(args: string[], token = ADMIN_TOKEN): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { url, token, tokenVar: 'SWITCHYARD_ADMIN_TOKEN' },
    nowMs: Date.now(),
  });
  return { code, out, err };
}

function oneLineError(run: Run, code: number): string {
  expect({ code: run.code, out: run.out, lines: run.err.length }).toEqual({ code, out: [], lines: 1 });
  return run.err[0] ?? '';
}

beforeAll(async () => {
  client = createIoRedisClient(testRedisUrl());
  store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  enrolments = createEnrolmentRepository({ store, keys });
  const app = express().use(
    '/admin',
    createAdminRouter({
      store,
      keys,
      adminToken: ADMIN_TOKEN,
      registry: { nodes: () => connected },
      log: createNullLogger(),
    }),
  );
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  connected = [];
  const left = await scanKeys(client, prefix);
  if (left.length > 0) await client.del(...left);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await store.close();
  await client.quit();
});

describe('switchyard nodes add', () => {
  it("prints exactly the node's three .env lines, the once-only note on stderr; the token works and is stored nowhere", async () => {
    const run = await cli(['nodes', 'add', 'node-c', '--label', 'spare account']);
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(3);
    const [gatewayLine, idLine, tokenLine] = run.out;
    expect(gatewayLine).toBe(`GATEWAY_URL=${url}`);
    expect(idLine).toBe('NODE_ID=node-c');
    expect(tokenLine).toMatch(/^NODE_TOKEN=syn-[0-9A-Za-z]{49}$/);
    const token = (tokenLine ?? '').slice('NODE_TOKEN='.length);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(
      /^Enrolled node node-c\. The token is shown only this once: put these lines in the node's \.env, then docker compose up -d\. GATEWAY_URL is this machine's loopback/,
    );
    expect(await enrolments.verify('node-c', token)).toMatchObject({ nodeId: 'node-c', label: 'spare account' });
    const stored = await Promise.all(
      (await scanKeys(client, prefix)).map(async (k) =>
        (await client.type(k)) === 'string' ? await client.get(k) : (await client.smembers(k)).join(','),
      ),
    );
    expect(stored.join('\n')).not.toContain(token);
  });

  it('takes the URL the node dials from --gateway-url, and --json carries it in env', async () => {
    const run = await cli(['nodes', 'add', 'node-d', '--gateway-url', 'https://gw.example.test/']);
    expect(run.out[0]).toBe('GATEWAY_URL=https://gw.example.test');
    expect(run.err[0]).not.toContain('loopback');
    const json = await cli(['nodes', 'add', 'node-e', '--json', '--gateway-url', 'https://gw.example.test']);
    const parsed = JSON.parse(json.out.join('\n')) as { nodeId: string; token: string; env: Record<string, string> };
    expect(parsed.env).toEqual({ GATEWAY_URL: 'https://gw.example.test', NODE_ID: 'node-e', NODE_TOKEN: parsed.token });
    expect(await enrolments.verify('node-e', parsed.token)).toBeDefined();
  });

  it('as the real binary: stdout holds only the three lines (so `>> .env` works), the note goes to stderr', async () => {
    const proc = spawn(process.execPath, [BIN, 'nodes', 'add', 'node-f'], {
      env: { ...baseChildEnv(), SWITCHYARD_URL: url, SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise((r) => proc.once('close', r));
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^GATEWAY_URL=${url}\\nNODE_ID=node-f\\nNODE_TOKEN=syn-[0-9A-Za-z]{49}\\n$`));
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a node enrolled before: one line naming rotate and revoke; a bad id or URL: the usage, exit 2, nothing written', async () => {
    await cli(['nodes', 'add', 'node-c']);
    expect(oneLineError(await cli(['nodes', 'add', 'node-c']), 1)).toBe(
      "switchyard: node 'node-c' is already enrolled (a new token: switchyard nodes rotate node-c; start over: switchyard nodes revoke node-c)",
    );
    const before = await scanKeys(client, prefix);
    for (const id of ['a:b', 'node c', 'n'.repeat(65)]) {
      expect(oneLineError(await cli(['nodes', 'add', id]), 2)).toMatch(
        /^switchyard: invalid node id '.*': use 1-64 letters, digits, _ \. or - \(the node's NODE_ID\)\. Usage: switchyard nodes add <id>/,
      );
    }
    expect(oneLineError(await cli(['nodes', 'add', 'node-g', '--gateway-url', 'ftp://x']), 2)).toMatch(
      /^switchyard: --gateway-url expects the URL the node dials/,
    );
    expect(oneLineError(await cli(['nodes', 'add']), 2)).toMatch(
      /^switchyard: missing <id>\. Usage: switchyard nodes add <id> \[--label L\]/,
    );
    expect((await scanKeys(client, prefix)).sort()).toEqual(before.sort());
  });
});

describe('switchyard nodes list, rotate, drain, revoke', () => {
  it('lists enrolled nodes with their connected state, the connected ones with their figures', async () => {
    await cli(['nodes', 'add', 'node-a', '--label', 'laptop']);
    await cli(['nodes', 'add', 'node-z']);
    connected = [view('node-a'), view('node-stray')];
    const run = await cli(['nodes', 'list']);
    expect(run.code).toBe(0);
    const [header, ...rest] = run.out;
    expect(header).toMatch(/^NODE\s+LABEL\s+ACCOUNT\s+STATE\s+5H\s+7D\s+RUNS OUT\s+IN FLIGHT\s+REPORTED\s+VERSION$/);
    const row = (id: string) => (rest.find((l) => l.startsWith(`${id} `)) ?? '').split(/\s{2,}/);
    expect(row('node-a')).toEqual([
      'node-a',
      'laptop',
      'node-a@example.test',
      'available',
      '-',
      '-',
      '-',
      '1',
      expect.stringMatching(/^\d+s ago$/) as string,
      '0.3.0 (abcdef1)',
    ]);
    expect(row('node-z')).toEqual(['node-z', '-', '-', 'offline', '-', '-', '-', '-', '-', '-']);
    expect(row('node-stray')[3]).toBe('available, not enrolled');
    expect(run.out).toContain('2 of 3 nodes connected to this gateway');
    expect(run.out.join('\n')).not.toContain('10.0.0.9');

    const json = JSON.parse((await cli(['nodes', 'list', '--json'])).out.join('\n')) as {
      enrolled: { nodeId: string; connected: boolean }[];
    };
    expect(json.enrolled.map((e) => [e.nodeId, e.connected])).toEqual([
      ['node-a', true],
      ['node-z', false],
    ]);
  });

  it('says when each account runs out: a subscription with windows lasts to its reset at no burn, an API-key account has none', async () => {
    const now = Date.now();
    const sub = view('node-a');
    sub.record.state = {
      ...sub.record.state,
      fiveHour: { utilization: 0.42, resetAt: now + 3 * 3_600_000 + 90_000 },
      sevenDay: { utilization: 0.1, resetAt: now + 5 * 86_400_000 + 1_800_000 },
    };
    const apiKey = view('node-k');
    apiKey.record.accountKind = 'api_key';
    connected = [sub, apiKey];
    const run = await cli(['nodes', 'list']);
    const row = (id: string) => (run.out.find((l) => l.startsWith(`${id} `)) ?? '').split(/\s{2,}/);
    expect(row('node-a').slice(4, 7)).toEqual(['42%, resets in 3h 1m', '10%, resets in 5d', 'lasts to reset']);
    expect(row('node-k')[6]).toBe('n/a (API key)');
  });

  it('with no node: says how to add one', async () => {
    expect((await cli(['nodes', 'list'])).out).toEqual([
      "No nodes: enrol one with `switchyard nodes add <id>` and put the lines it prints in the node's .env.",
    ]);
  });

  it('rotates: prints only the new NODE_TOKEN line; the old token stops working', async () => {
    const added = await cli(['nodes', 'add', 'node-c']);
    const old = (added.out[2] ?? '').slice('NODE_TOKEN='.length);
    const run = await cli(['nodes', 'rotate', 'node-c']);
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(1);
    expect(run.out[0]).toMatch(/^NODE_TOKEN=syn-[0-9A-Za-z]{49}$/);
    expect(run.err).toEqual([
      "New token for node node-c, shown only this once; the old one no longer works. Replace NODE_TOKEN in the node's .env and restart it.",
    ]);
    const fresh = (run.out[0] ?? '').slice('NODE_TOKEN='.length);
    expect(await enrolments.verify('node-c', old)).toBeUndefined();
    expect(await enrolments.verify('node-c', fresh)).toBeDefined();
    expect(oneLineError(await cli(['nodes', 'rotate', 'ghost']), 1)).toBe(
      "switchyard: no enrolled node 'ghost' (see switchyard nodes list)",
    );
  });

  it('drains an enrolled node that is offline, and resumes it', async () => {
    await cli(['nodes', 'add', 'node-c']);
    expect((await cli(['nodes', 'drain', 'node-c'])).out[0]).toMatch(/^Drained node-c: /);
    expect((await cli(['nodes', 'list'])).out.find((l) => l.startsWith('node-c'))).toMatch(/\soffline, drained\s/);
    expect((await cli(['nodes', 'resume', 'node-c'])).out).toEqual(['Resumed node-c: it takes traffic again.']);
    expect(oneLineError(await cli(['nodes', 'drain', 'ghost']), 1)).toBe(
      "switchyard: no enrolled node 'ghost' (see switchyard nodes list)",
    );
  });

  it('revokes: the token stops working, the list drops the node, a second revoke names the fix', async () => {
    const added = await cli(['nodes', 'add', 'node-c']);
    const token = (added.out[2] ?? '').slice('NODE_TOKEN='.length);
    const run = await cli(['nodes', 'revoke', 'node-c']);
    expect(run).toEqual({
      code: 0,
      out: [
        expect.stringMatching(
          /^Revoked node node-c: its token no longer works and every gateway closes its connections within 5 s\./,
        ) as string,
      ],
      err: [],
    });
    expect(await enrolments.verify('node-c', token)).toBeUndefined();
    expect((await cli(['nodes', 'list'])).out.join('\n')).not.toContain('node-c');
    expect(oneLineError(await cli(['nodes', 'revoke', 'node-c']), 1)).toBe(
      "switchyard: no enrolled node 'node-c' (see switchyard nodes list)",
    );
  });

  it("a node's token given as the admin token is refused", async () => {
    const added = await cli(['nodes', 'add', 'node-c']);
    const token = (added.out[2] ?? '').slice('NODE_TOKEN='.length);
    expect(oneLineError(await cli(['nodes', 'list'], token), 1)).toBe(
      'switchyard: the gateway refused the admin token (check SWITCHYARD_ADMIN_TOKEN)',
    );
    expect(oneLineError(await cli(['nodes', 'add', 'node-evil'], token), 1)).toBe(
      'switchyard: the gateway refused the admin token (check SWITCHYARD_ADMIN_TOKEN)',
    );
    expect(await enrolments.get('node-evil')).toBeUndefined();
  });

  it('help lists every node command', async () => {
    const help = await cli(['nodes', '--help']);
    for (const command of [
      'nodes add <id>',
      'nodes list',
      'nodes drain <id>',
      'nodes resume <id>',
      'nodes rotate <id>',
      'nodes revoke <id>',
    ]) {
      expect(help.out.join('\n')).toContain(`  ${command}`);
    }
    expect((await cli(['nodes', 'add', '--help'])).out[0]).toBe(
      'Usage: switchyard nodes add <id> [--label L] [--gateway-url URL] [--url URL] [--token TOKEN] [--json]',
    );
  });
});
