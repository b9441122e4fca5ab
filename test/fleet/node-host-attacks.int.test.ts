// A node host is trusted with its own account and nothing else. Each test plays the attacker with exactly what one
// node host holds — its environment and its credentials volume — against a real gateway, nodes, worker and Redis.
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  CREDENTIAL_PATH,
  NodeTokens,
  openForNode,
  TUNNEL_PATH,
  TUNNEL_UPGRADE,
  TunnelHeaders,
} from '@switchyard/shared';
import { testRedisUrl, startStack, type Stack, type StackNode } from '@switchyard/testkit';

jest.setTimeout(90_000);

let chain: Stack;
let redis: Redis;
let attacker: StackNode;
let victim: StackNode;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true });
  await chain.waitReady();
  redis = new Redis(testRedisUrl());
  attacker = chain.nodes['node-a']!;
  victim = chain.nodes['node-b']!;
});
afterAll(async () => {
  await chain?.stop();
  redis?.disconnect();
});

/** What the node host holds: the values of its environment and the files of its volume. */
function hostSecrets(node: StackNode): { env: Record<string, string>; files: Record<string, string> } {
  const files: Record<string, string> = {};
  for (const name of readdirSync(node.dir)) files[name] = readFileSync(join(node.dir, name), 'utf8');
  return { env: node.env, files };
}

/** An upgrade attempt as a node would make it; resolves with the status (101 when let in). */
function dialTunnel(nodeId: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${chain.gatewayUrl}${TUNNEL_PATH}`, {
      headers: {
        connection: 'Upgrade',
        upgrade: TUNNEL_UPGRADE,
        authorization: `Bearer ${token}`,
        [TunnelHeaders.nodeId]: nodeId,
        [TunnelHeaders.instance]: `attack-${Date.now()}`,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every string stored under the chain's prefix: plain values, hash fields, list and set members. */
async function everythingInRedis(): Promise<string> {
  const out: string[] = [];
  const keys = await redis.keys(`${chain.prefix}*`);
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'string') out.push((await redis.get(key)) ?? '');
    else if (type === 'hash') out.push(...Object.entries(await redis.hgetall(key)).flat());
    else if (type === 'list') out.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'set') out.push(...(await redis.smembers(key)));
    else if (type === 'zset') out.push(...(await redis.zrange(key, 0, -1)));
  }
  return out.join('\n');
}

const hello = (text: string) =>
  JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 32, messages: [{ role: 'user', content: text }] });

describe('what a node host holds', () => {
  it('is its own id, its own token, the gateway URL and its own account: no Redis credential, no fleet secret', () => {
    const { env, files } = hostSecrets(attacker);
    expect(Object.keys(env).filter((name) => /REDIS|UPSTASH|SHARED_SECRET|ADMIN|METRICS_TOKEN/.test(name))).toEqual([]);
    const held = JSON.stringify({ env, files });
    expect(held).not.toContain(chain.adminToken);
    expect(held).not.toContain(testRedisUrl());
    expect(held).not.toContain(victim.token);
    expect(NodeTokens.isWellFormed(env.NODE_TOKEN ?? '')).toBe(true);
  });
});

describe('attacks from a node host', () => {
  it("cannot read another node's credentials: its token opens only its own sealed copy, and Redis holds no plaintext", async () => {
    const asOther = await fetch(`${chain.gatewayUrl}${CREDENTIAL_PATH}`, {
      headers: { authorization: `Bearer ${attacker.token}`, [TunnelHeaders.nodeId]: 'node-b' },
    });
    expect(asOther.status).toBe(401);
    const own = await fetch(`${chain.gatewayUrl}${CREDENTIAL_PATH}`, {
      headers: { authorization: `Bearer ${attacker.token}`, [TunnelHeaders.nodeId]: 'node-a' },
    });
    expect(own.status).toBe(200);
    const { sealed } = (await own.json()) as { sealed: string };
    expect(JSON.parse(openForNode(attacker.token, 'node-a', sealed))).toMatchObject({ type: 'oauth' });
    // The victim's copy (read straight from Redis, as a thief of the database would) opens with neither token it lacks.
    const victimSealed = await redis.get(`${chain.prefix}sealed:node-b`);
    expect(victimSealed).not.toBeNull();
    expect(() => openForNode(attacker.token, 'node-b', victimSealed!)).toThrow();
    const victimRecord = JSON.parse(Object.values(hostSecrets(victim).files).find((f) => f.includes('refresh'))!) as {
      refresh: string;
      access: string;
    };
    const stored = await everythingInRedis();
    expect(stored).not.toContain(victimRecord.refresh);
    expect(stored).not.toContain(victimRecord.access);
  });

  it('cannot mint a gateway key: its token is no admin token, and it holds nothing that writes Redis', async () => {
    const res = await fetch(`${chain.gatewayUrl}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${attacker.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'planted' }),
    });
    expect(res.status).toBe(401);
    const keys = await chain.admin('GET', '/keys');
    expect(JSON.stringify(await keys.json())).not.toContain('planted');
  });

  it('cannot join as another node, with another node id, or with a revoked token', async () => {
    expect(await dialTunnel('node-b', attacker.token)).toBe(401);
    expect(await dialTunnel('node-c', attacker.token)).toBe(401);
    const made = await chain.admin('POST', '/nodes', { id: 'node-revoked' });
    expect(made.status).toBe(201);
    const { token } = (await made.json()) as { token: string };
    expect((await chain.admin('DELETE', '/nodes/node-revoked')).status).toBe(200);
    expect(await dialTunnel('node-revoked', token)).toBe(401);
    // No conversation can be drawn to a node that is not in the fleet: both real nodes stay the only ones.
    const listed = (await (await chain.admin('GET', '/nodes')).json()) as { nodes: { nodeId: string }[] };
    expect(listed.nodes.map((n) => n.nodeId).sort()).toEqual(['node-a', 'node-b']);
  });

  it("cannot spend another node's account: no signing secret exists, its token is no user key, and a node's own port forwards nothing", async () => {
    chain.fake.reset();
    const asUser = await fetch(`${chain.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': attacker.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: hello('spend'),
    });
    expect(asUser.status).toBe(401);
    const victimLocal = `http://127.0.0.1:${victim.env.PORT}`;
    const direct = await fetch(`${victimLocal}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-switchyard-node-id': 'node-b',
        authorization: `Bearer ${attacker.token}`,
      },
      body: hello('spend'),
    });
    expect(direct.status).toBe(404);
    expect(chain.fake.requests.filter((r) => r.route === 'messages')).toHaveLength(0);
  });

  it('finds no conversation text at rest once the usage worker has counted a request', async () => {
    const sentinel = `sentinel-${Date.now()}-prompt-text`;
    const { key } = await chain.createKey();
    const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: hello(sentinel),
    });
    expect(res.status).toBe(200);
    await res.text();
    const t0 = Date.now();
    for (;;) {
      const counted = (await redis.keys(`${chain.prefix}usage:done:*`)).length > 0;
      if (counted && !(await everythingInRedis()).includes(sentinel)) break;
      if (Date.now() - t0 > 30_000)
        throw new Error('the prompt text is still in Redis 30 s after the request was counted');
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});
