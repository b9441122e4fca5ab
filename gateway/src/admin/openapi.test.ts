// The OpenAPI document stays in sync with the admin router: the same (method, path) pairs, every
// reference resolves, every route but the document itself needs a token (401, 429; 403 for the read-only role on
// every write), the router serves it, and the router's real 403, 429 and session answers are the documented ones.
import { randomBytes } from 'node:crypto';
import express, { type Router } from 'express';
import request from 'supertest';
import { z } from 'zod';
import { createKeyspace, createNullLogger } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/testkit';
import { createAdminRouter } from './admin-router.js';
import { buildAdminOpenApi, documentedOperations } from './openapi.js';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every (method, path) the Express router answers, paths in OpenAPI form (`:id` → `{id}`). */
function routesOf(router: Router, prefix: string): string[] {
  const out: string[] = [];
  for (const layer of (router as unknown as { stack: Layer[] }).stack) {
    if (layer.route) {
      const path = prefix + layer.route.path.replace(/:(\w+)/g, '{$1}');
      for (const [method, on] of Object.entries(layer.route.methods))
        if (on && method !== '_all') out.push(`${method.toUpperCase()} ${path}`);
    } else if (layer.handle.stack) {
      // Sub-routers are mounted without a path of their own (router.use(createKeyRoutes(...))).
      out.push(...routesOf(layer.handle as unknown as Router, prefix));
    }
  }
  return out.sort();
}

type Doc = {
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
  components: Record<string, Record<string, unknown>>;
};

const adminToken = randomBytes(32).toString('hex');
const readToken = randomBytes(32).toString('hex');

function adminRouter(authThrottle?: { maxFailures: number; now: () => number }): Router {
  return createAdminRouter({
    store: createMemoryStore(),
    keys: createKeyspace('openapi-unit:'),
    adminToken,
    readToken,
    registry: { nodes: () => [] },
    log: createNullLogger(),
    authThrottle,
  });
}

describe('admin OpenAPI document', () => {
  const doc = buildAdminOpenApi() as unknown as Doc;

  it('describes exactly the routes the admin router answers', () => {
    const routes = routesOf(adminRouter(), '/admin');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes.length).toBeGreaterThanOrEqual(11);
    expect(documented.sort()).toEqual(routes);
    expect(
      documentedOperations()
        .map((o) => `${o.method.toUpperCase()} ${o.path}`)
        .sort(),
    ).toEqual(routes);
  });

  it('resolves every $ref within the document', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of new Set(refs)) {
      const target = ref
        .split('/')
        .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect([ref, target !== undefined]).toEqual([ref, true]);
    }
  });

  it("asks for a token on every route but the document itself, and documents its 401, the throttle's 429 and the read-only 403 on every write", () => {
    const open: string[] = [];
    const readOnlyRefused: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (Array.isArray(op.security) && op.security.length === 0) {
          open.push(`${method} ${path}`);
          expect(Object.keys(op.responses)).not.toEqual(expect.arrayContaining(['429']));
          continue;
        }
        expect([path, method, Object.keys(op.responses)]).toEqual([
          path,
          method,
          expect.arrayContaining(['401', '429', '500']),
        ]);
        if ('403' in op.responses) readOnlyRefused.push(`${method} ${path}`);
      }
    }
    expect(open).toEqual(['get /admin/openapi.json']);
    // Exactly the writes: the read-only token may GET every route.
    const writes = documentedOperations()
      .filter((o) => o.method !== 'get')
      .map((o) => `${o.method} ${o.path}`);
    expect(writes.length).toBeGreaterThanOrEqual(7);
    expect(readOnlyRefused.sort()).toEqual(writes.sort());
    expect(doc.components.responses?.TooManyFailures).toMatchObject({
      headers: { 'retry-after': { schema: { type: 'integer' } } },
    });
    expect(JSON.stringify(doc.components.securitySchemes?.bearerAuth)).toContain('ADMIN_READ_TOKEN');
    expect(Object.keys(doc.components.securitySchemes ?? {})).toEqual(['bearerAuth']);
    expect(doc.components.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('derives the request bodies from the schemas the routes validate with', () => {
    const create = doc.components.schemas?.CreateKeyBody as {
      required: string[];
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    expect(create.required).toEqual(['name']);
    expect(Object.keys(create.properties).sort()).toEqual([
      'allowedBetas',
      'allowedModels',
      'concurrency',
      'dailyTokenBudget',
      'dailyUsdBudget',
      'enabled',
      'expiresAt',
      'monthlyUsdBudget',
      'name',
      'rpm',
    ]);
    expect(JSON.stringify(create.properties.allowedBetas)).toContain('anthropic-beta');
    const update = doc.components.schemas?.UpdateKeyBody as { properties: Record<string, unknown> };
    expect(Object.keys(update.properties)).toContain('allowedBetas');
    const view = doc.components.schemas?.KeyView as { required: string[]; properties: Record<string, unknown> };
    expect(view.required).toContain('allowedBetas');
    expect(create.additionalProperties).toBe(false);
    expect(doc.components.schemas?.UpdateKeyBody).toMatchObject({ minProperties: 1, additionalProperties: false });
    const enrol = doc.components.schemas?.EnrolNodeBody as {
      required: string[];
      properties: Record<string, { pattern?: string }>;
      additionalProperties: boolean;
    };
    expect(enrol.required).toEqual(['id']);
    expect(Object.keys(enrol.properties).sort()).toEqual(['id', 'label']);
    expect(enrol.properties.id?.pattern).toBe('^[A-Za-z0-9_.-]{1,64}$');
    expect(enrol.additionalProperties).toBe(false);
  });

  it('documents the usage figures by route: requestsByRoute on every total and row, route on each recent request', () => {
    type Obj = {
      required?: string[];
      properties: Record<string, { enum?: string[]; required?: string[]; properties?: Record<string, unknown> }>;
    };
    const totals = doc.components.schemas?.UsageTotals as Obj;
    expect(totals.required).toEqual(expect.arrayContaining(['chatCompletionRequests', 'requestsByRoute']));
    expect(totals.properties.requestsByRoute).toMatchObject({ required: ['messages', 'chat_completions'] });
    expect(Object.keys(totals.properties.requestsByRoute?.properties ?? {})).toEqual(['messages', 'chat_completions']);
    const recent = doc.components.schemas?.RecentRequest as Obj;
    expect(recent.required).toContain('route');
    expect(recent.properties.route?.enum).toEqual(['messages', 'chat_completions']);
    expect((doc as unknown as { info: { version: string } }).info.version).toBe('2.4.0');
  });

  it('documents the node token answers as the only ones carrying a token, and the conflict of a second enrolment', () => {
    const carrying = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) =>
        JSON.stringify(op.responses).includes('#/components/schemas/NodeToken"') ? [`${method} ${path}`] : [],
      ),
    );
    expect(carrying.sort()).toEqual(['post /admin/nodes', 'post /admin/nodes/{id}/token']);
    expect(Object.keys(doc.paths['/admin/nodes']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['201', '400', '409']),
    );
    const listed = JSON.stringify(doc.components.schemas?.NodeList);
    expect(listed).toContain('EnrolledNode');
    expect(JSON.stringify(doc.components.schemas?.EnrolledNode)).not.toMatch(/"token"|tokenDigest/);
    expect(JSON.stringify(doc.components.schemas?.NodeSummary)).not.toContain('"url"');
  });

  it('is served at /admin/openapi.json without a token, while other routes still refuse', async () => {
    const app = express().use('/admin', adminRouter());
    const res = await request(app).get('/admin/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(doc)));
    expect((await request(app).get('/admin/keys')).status).toBe(401);
    expect((await request(app).get('/admin/keys').set('authorization', `Bearer ${adminToken}`)).status).toBe(200);
  });
});

describe('the authentication answers, as documented', () => {
  const doc = buildAdminOpenApi() as unknown as Doc;

  /** The documented schema of a status of an operation, as a zod validator (zod reads `#/$defs/…` refs). */
  function documented(method: string, path: string, status: number): z.ZodType {
    let response = doc.paths[path]?.[method]?.responses[String(status)] as
      { $ref?: string; content?: Record<string, { schema: unknown }> } | undefined;
    if (response?.$ref) response = doc.components.responses?.[response.$ref.split('/').pop() ?? ''] as typeof response;
    const schema = response?.content?.['application/json']?.schema;
    if (schema === undefined) throw new Error(`${method} ${path} documents no ${status}`);
    const rooted = JSON.stringify({ ...(schema as object), $defs: doc.components.schemas }).replaceAll(
      '#/components/schemas/',
      '#/$defs/',
    );
    return z.fromJSONSchema(JSON.parse(rooted) as Parameters<typeof z.fromJSONSchema>[0]);
  }

  it('GET /admin/session answers each role as documented', async () => {
    const app = express().use('/admin', adminRouter());
    for (const [token, role] of [
      [adminToken, 'admin'],
      [readToken, 'read'],
    ] as const) {
      const res = await request(app).get('/admin/session').set('authorization', `Bearer ${token}`).expect(200);
      expect(res.body).toEqual({ role });
      expect(documented('get', '/admin/session', 200).safeParse(res.body).success).toBe(true);
    }
  });

  it("the read-only token's 403 on a write and the throttle's 429 are the documented envelopes", async () => {
    let clock = 1_000_000;
    const app = express().use('/admin', adminRouter({ maxFailures: 1, now: () => clock }));
    const refused = await request(app)
      .post('/admin/keys')
      .set('authorization', `Bearer ${readToken}`)
      .send({ name: 'x' })
      .expect(403);
    expect(documented('post', '/admin/keys', 403).safeParse(refused.body).success).toBe(true);
    await request(app)
      .get('/admin/keys')
      .set('authorization', `Bearer ${'f'.repeat(64)}`)
      .expect(401);
    const throttled = await request(app).get('/admin/keys').set('authorization', `Bearer ${adminToken}`).expect(429);
    expect(documented('get', '/admin/keys', 429).safeParse(throttled.body).success).toBe(true);
    expect(Number(throttled.headers['retry-after'])).toBe(60);
    clock += 60_000;
    await request(app).get('/admin/keys').set('authorization', `Bearer ${adminToken}`).expect(200);
  });
});
