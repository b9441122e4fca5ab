// `switchyard` with each admin role, against the gateway's real admin router on a real Redis (in this process): the
// read-only token runs every read command and is refused every write in one line that says why; the admin token sets,
// shows and clears a key's beta allowlist (--betas); an address throttled for wrong tokens is told how long to wait.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createAdminRouter, type AdminRouterDeps } from '../../gateway/src/admin/index.js';
import { createEnrolmentRepository } from '../../gateway/src/nodes/index.js';
import { runCli } from './run.js';

const ADMIN_TOKEN = randomBytes(32).toString('hex');
const READ_TOKEN = randomBytes(32).toString('hex');

interface Run {
  code: number;
  out: string[];
  err: string[];
}

const prefix = uniquePrefix('cli-roles');
const keys = createKeyspace(prefix);
let client: Redis;
let store: SharedStore;
const servers: Server[] = [];
let url = '';

async function serve(deps: Partial<AdminRouterDeps> = {}): Promise<string> {
  const router = createAdminRouter({
    store,
    keys,
    adminToken: ADMIN_TOKEN,
    readToken: READ_TOKEN,
    registry: { nodes: () => [] },
    log: createNullLogger(),
    ...deps,
  });
  const server = createServer(express().use('/admin', router));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The CLI in this process, as `switchyard <args>` with the token in SWITCHYARD_ADMIN_TOKEN. */
async function cli(args: string[], token: string, at = url): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    out: (l) => void out.push(l),
    err: (l) => void err.push(l),
    env: { url: at, token, tokenVar: 'SWITCHYARD_ADMIN_TOKEN' },
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
  url = await serve();
});

afterEach(async () => {
  const left = await scanKeys(client, prefix);
  if (left.length > 0) await client.del(...left);
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await store.close();
  await client.quit();
});

async function createKey(args: string[]): Promise<string> {
  const run = await cli(['keys', 'create', ...args], ADMIN_TOKEN);
  expect(run.code).toBe(0);
  return /\((key_[0-9a-f]+)\)/.exec(run.out.join('\n'))?.[1] ?? '';
}

describe('switchyard with the read-only token', () => {
  it('runs every read command', async () => {
    const keyId = await createKey(['reader-visible', '--betas', 'context-1m-2025-08-07']);
    await createEnrolmentRepository({ store, keys }).create('node-a');
    const list = await cli(['keys', 'list'], READ_TOKEN);
    expect(list.code).toBe(0);
    expect(list.out.join('\n')).toContain(keyId);
    expect((await cli(['keys', 'show', keyId], READ_TOKEN)).out).toContain('betas:         context-1m-2025-08-07');
    expect((await cli(['nodes', 'list'], READ_TOKEN)).out.join('\n')).toMatch(/^node-a\s+-\s+-\s+offline/m);
    expect((await cli(['usage'], READ_TOKEN)).code).toBe(0);
    const recent = await cli(['usage', 'recent'], READ_TOKEN);
    expect(recent).toMatchObject({ code: 0, err: [] });
  });

  it.each([
    [['keys', 'create', 'x'], 'POST /admin/keys'],
    [['keys', 'update', 'key_0000000000000000', '--rpm', '5'], 'PATCH /admin/keys/key_0000000000000000'],
    [['keys', 'revoke', 'key_0000000000000000'], 'DELETE /admin/keys/key_0000000000000000'],
    [['nodes', 'add', 'node-b'], 'POST /admin/nodes'],
    [['nodes', 'drain', 'node-a'], 'POST /admin/nodes/node-a/drain'],
    [['nodes', 'resume', 'node-a'], 'POST /admin/nodes/node-a/resume'],
    [['nodes', 'rotate', 'node-a'], 'POST /admin/nodes/node-a/token'],
    [['nodes', 'revoke', 'node-a'], 'DELETE /admin/nodes/node-a'],
  ])('is refused %j in one line that says the token is read-only, and nothing changes', async (args, route) => {
    await createEnrolmentRepository({ store, keys }).create('node-a');
    const before = (await scanKeys(client, prefix)).sort();
    expect(oneLineError(await cli(args, READ_TOKEN), 1)).toBe(
      `switchyard: this token is read-only: ${route} needs the admin token, ADMIN_TOKEN (check SWITCHYARD_ADMIN_TOKEN)`,
    );
    expect((await scanKeys(client, prefix)).sort()).toEqual(before);
  });
});

describe('switchyard keys --betas', () => {
  it('sets the allowlist at creation, lists and shows it, changes it, and clears it with any', async () => {
    const created = await cli(
      ['keys', 'create', 'beta-user', '--betas', 'context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14'],
      ADMIN_TOKEN,
    );
    expect(created.out.join('\n')).toContain('betas context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14;');
    const keyId = /\((key_[0-9a-f]+)\)/.exec(created.out.join('\n'))?.[1] ?? '';
    const plain = await createKey(['plain']);

    const list = await cli(['keys', 'list'], ADMIN_TOKEN);
    const [header, ...rows] = list.out;
    expect(header).toMatch(
      /^ID\s+NAME\s+KEY\s+STATUS\s+RPM\s+CONCURRENCY\s+TOKENS\/DAY\s+USD\/DAY\s+USD\/MONTH\s+MODELS\s+BETAS\s+EXPIRES\s+CREATED$/,
    );
    const cells = (id: string) => (rows.find((r) => r.startsWith(id)) ?? '').split(/\s{2,}/);
    expect(cells(keyId)[10]).toBe('context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14');
    expect(cells(plain)[10]).toBe('any');

    const narrowed = await cli(['keys', 'update', keyId, '--betas', 'context-1m-2025-08-07'], ADMIN_TOKEN);
    expect(narrowed.out[0]).toBe(`Updated key 'beta-user' (${keyId}): allowedBetas.`);
    expect(narrowed.out).toContain('betas:         context-1m-2025-08-07');
    expect((await cli(['keys', 'update', keyId, '--betas', 'none'], ADMIN_TOKEN)).out).toContain('betas:         none');
    expect((await cli(['keys', 'update', keyId, '--betas', 'any'], ADMIN_TOKEN)).out).toContain('betas:         any');
    const json = JSON.parse((await cli(['keys', 'show', keyId, '--json'], ADMIN_TOKEN)).out.join('\n')) as {
      allowedBetas: unknown;
    };
    expect(json.allowedBetas).toBeNull();
  });

  it('refuses a beta name the API would refuse, before any request: the usage, exit 2', async () => {
    expect(oneLineError(await cli(['keys', 'create', 'x', '--betas', 'ok,a/b'], ADMIN_TOKEN), 2)).toMatch(
      /^switchyard: --betas expects anthropic-beta names/,
    );
    expect(await scanKeys(client, prefix)).toEqual([]);
  });
});

describe('switchyard from a throttled address', () => {
  it('says how long the gateway refuses it, even with the right token', async () => {
    const throttled = await serve({ authThrottle: { maxFailures: 2, now: () => 1_800_000_000_000 } });
    for (let i = 0; i < 2; i += 1) {
      expect(oneLineError(await cli(['keys', 'list'], randomBytes(32).toString('hex'), throttled), 1)).toBe(
        'switchyard: the gateway refused the admin token (check SWITCHYARD_ADMIN_TOKEN)',
      );
    }
    expect(oneLineError(await cli(['keys', 'list'], ADMIN_TOKEN, throttled), 1)).toBe(
      'switchyard: the gateway refuses this address for 60s after too many wrong admin tokens from it (try again then; check SWITCHYARD_ADMIN_TOKEN)',
    );
  });
});
