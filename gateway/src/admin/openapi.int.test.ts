// Real answers of a running admin API (gateway + two node-agents dialled in + usage worker, after real traffic) match the
// response schemas the OpenAPI document gives for their route and status, errors included.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(60_000);

interface Operation {
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, unknown>;
    responses: Record<string, { content: Record<string, { schema: unknown }> }>;
  };
}

let chain: Stack;
let doc: Doc;

/** The documented schema of `status` for the operation, as a zod validator (zod reads `#/$defs/…` refs). */
function documentedSchema(method: string, path: string, status: number): z.ZodType {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`undocumented operation ${method} ${path}`);
  let response = op.responses[String(status)];
  if (!response)
    throw new Error(
      `${method} ${path} does not document status ${status} (has ${Object.keys(op.responses).join(', ')})`,
    );
  if (response.$ref) response = doc.components.responses[response.$ref.split('/').pop() ?? ''];
  const schema = response?.content?.['application/json']?.schema;
  const rooted = JSON.stringify({ ...(schema as object), $defs: doc.components.schemas }).replaceAll(
    '#/components/schemas/',
    '#/$defs/',
  );
  return z.fromJSONSchema(JSON.parse(rooted) as Parameters<typeof z.fromJSONSchema>[0]);
}

/** Calls the admin API and checks the answer against the document; returns the parsed body. */
async function call(
  method: string,
  path: string,
  docPath: string,
  body?: unknown,
  token = chain.adminToken,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${chain.gatewayUrl}${path}`, {
    method: method.toUpperCase(),
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json: unknown = await res.json();
  const check = documentedSchema(method, docPath, res.status).safeParse(json);
  expect({ route: `${method} ${path} → ${res.status}`, problems: check.success ? [] : check.error.issues }).toEqual({
    route: `${method} ${path} → ${res.status}`,
    problems: [],
  });
  return { status: res.status, json };
}

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true });
  await chain.waitReady();
  const res = await fetch(`${chain.gatewayUrl}/admin/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});

afterAll(() => chain?.stop());

test('the gateway serves the document without a token', () => {
  expect(doc).toMatchObject({ openapi: '3.1.0', info: { title: 'Switchyard admin API' } });
});

test('key routes answer as documented, errors included', async () => {
  const created = await call('post', '/admin/keys', '/admin/keys', {
    name: 'doc-check',
    rpm: 100,
    allowedModels: ['claude-sonnet-4-6'],
    expiresAt: '2099-01-01T00:00:00Z',
  });
  expect(created.status).toBe(201);
  const id = (created.json as { record: { id: string } }).record.id;
  expect((await call('get', '/admin/keys', '/admin/keys')).status).toBe(200);
  expect((await call('get', `/admin/keys/${id}`, '/admin/keys/{id}')).status).toBe(200);
  expect((await call('patch', `/admin/keys/${id}`, '/admin/keys/{id}', { rpm: null, enabled: false })).status).toBe(
    200,
  );
  expect((await call('patch', `/admin/keys/${id}`, '/admin/keys/{id}', { rpn: 5 })).status).toBe(400);
  expect((await call('post', '/admin/keys', '/admin/keys', { name: '' })).status).toBe(400);
  expect((await call('delete', `/admin/keys/${id}`, '/admin/keys/{id}')).status).toBe(200);
  expect((await call('get', `/admin/keys/${id}`, '/admin/keys/{id}')).status).toBe(404);
  expect((await call('get', '/admin/keys', '/admin/keys', undefined, randomBytes(32).toString('hex'))).status).toBe(
    401,
  );
});

test('node routes answer as documented, with the figures real node-agents publish', async () => {
  const listed = await call('get', '/admin/nodes', '/admin/nodes');
  expect((listed.json as { nodes: { fiveHour?: unknown }[] }).nodes).toHaveLength(2);
  expect((await call('post', '/admin/nodes/node-a/drain', '/admin/nodes/{id}/drain')).status).toBe(200);
  expect((await call('post', '/admin/nodes/node-a/resume', '/admin/nodes/{id}/resume')).status).toBe(200);
  expect((await call('post', '/admin/nodes/nobody/drain', '/admin/nodes/{id}/drain')).status).toBe(404);
});

test('enrolment routes answer as documented, errors included', async () => {
  const id = `node-doc-${randomBytes(3).toString('hex')}`;
  expect((await call('post', '/admin/nodes', '/admin/nodes', { id, label: 'doc check' })).status).toBe(201);
  expect((await call('post', '/admin/nodes', '/admin/nodes', { id })).status).toBe(409);
  expect((await call('post', '/admin/nodes', '/admin/nodes', { id: 'a:b' })).status).toBe(400);
  const listed = await call('get', '/admin/nodes', '/admin/nodes');
  expect((listed.json as { enrolled: { nodeId: string; connected: boolean }[] }).enrolled).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ nodeId: id, connected: false }),
      expect.objectContaining({ nodeId: 'node-a', connected: true }),
    ]),
  );
  expect((await call('post', `/admin/nodes/${id}/token`, '/admin/nodes/{id}/token')).status).toBe(200);
  expect((await call('delete', `/admin/nodes/${id}`, '/admin/nodes/{id}')).status).toBe(200);
  expect((await call('delete', `/admin/nodes/${id}`, '/admin/nodes/{id}')).status).toBe(404);
  expect((await call('post', `/admin/nodes/${id}/token`, '/admin/nodes/{id}/token')).status).toBe(404);
});

test('usage routes answer as documented after counted traffic', async () => {
  const { key, id } = await chain.createKey();
  const sent = await Promise.all(
    [false, true].map((stream) =>
      fetch(`${chain.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
        },
        body: JSON.stringify({
          model: 'claude-sonnet-4-6',
          max_tokens: 64,
          stream,
          messages: [{ role: 'user', content: 'hello' }],
        }),
      }).then(async (r) => [r.status, await r.text()] as const),
    ),
  );
  expect(sent.map(([status]) => status)).toEqual([200, 200]);
  await waitFor(
    'both requests counted in the usage report',
    async () => {
      const { rows } = (await (await chain.admin('GET', '/usage?by=key')).json()) as {
        rows: { id: string; requests: number }[];
      };
      return rows.find((r) => r.id === id)?.requests === 2;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  for (const by of ['key', 'node', 'model', 'day']) {
    const report = await call('get', `/admin/usage?by=${by}`, '/admin/usage');
    expect((report.json as { rows: unknown[] }).rows.length).toBeGreaterThan(0);
    // The gateway reads the usage queue itself: its figures are there, not null.
    const { lagSeconds, queue, lagWarnSeconds } = report.json as {
      lagSeconds: unknown;
      queue: Record<string, unknown> | null;
      lagWarnSeconds: unknown;
    };
    expect([typeof lagSeconds, typeof queue?.waiting, typeof queue?.failed, lagWarnSeconds]).toEqual([
      'number',
      'number',
      'number',
      60,
    ]);
  }
  const report = (await (await chain.admin('GET', '/usage')).json()) as Record<string, unknown>;
  const schema = documentedSchema('get', '/admin/usage', 200);
  // Redis could not answer about the queue: both null is documented; a queue without its lag is not.
  expect(schema.safeParse({ ...report, lagSeconds: null, queue: null }).success).toBe(true);
  expect(schema.safeParse({ ...report, queue: { waiting: 0, active: 0, delayed: 0, failed: 0 } }).success).toBe(false);
  const recent = await call('get', '/admin/usage/recent?limit=5', '/admin/usage/recent');
  expect((recent.json as { requests: unknown[] }).requests).toHaveLength(2);
  expect((await call('get', '/admin/usage?from=2026-02-30', '/admin/usage')).status).toBe(400);
  expect((await call('get', '/admin/usage/recent?limit=0', '/admin/usage/recent')).status).toBe(400);
});

test('the check fails on an answer the document does not describe', async () => {
  const listed = (await (await chain.admin('GET', '/nodes')).json()) as { nodes: Record<string, unknown>[] };
  const schema = documentedSchema('get', '/admin/nodes', 200);
  expect(schema.safeParse(listed).success).toBe(true);
  const node = listed.nodes[0] ?? {};
  expect(schema.safeParse({ ...listed, nodes: [{ ...node, surprise: 1 }] }).success).toBe(false);
  expect(schema.safeParse({ ...listed, nodes: [{ ...node, state: 'asleep' }] }).success).toBe(false);
  expect(schema.safeParse({ ...listed, nodes: [{ ...node, inFlight: undefined }] }).success).toBe(false);
  expect(schema.safeParse({ ...listed, mixedVersions: undefined }).success).toBe(false);
});
