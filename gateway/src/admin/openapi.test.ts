// The OpenAPI document stays in sync with the admin router: the same (method, path) pairs, every
// reference resolves, every route but the document itself needs the token, and the router serves it.
import { randomBytes } from 'node:crypto';
import express, { type Router } from 'express';
import request from 'supertest';
import { createKeyspace, createNullLogger } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/shared/testing';
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
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method.toUpperCase()} ${path}`);
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

function adminRouter(): Router {
  return createAdminRouter({ store: createMemoryStore(), keys: createKeyspace('openapi-unit:'), adminToken, registry: { nodes: () => [] }, log: createNullLogger() });
}

describe('admin OpenAPI document', () => {
  const doc = buildAdminOpenApi() as unknown as Doc;

  it('describes exactly the routes the admin router answers', () => {
    const routes = routesOf(adminRouter(), '/admin');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.length).toBeGreaterThanOrEqual(11);
    expect(documented.sort()).toEqual(routes);
    expect(documentedOperations().map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(routes);
  });

  it('resolves every $ref within the document', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of new Set(refs)) {
      const target = ref.split('/').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect([ref, target !== undefined]).toEqual([ref, true]);
    }
  });

  it('asks for the admin token on every route but the document itself, and documents its 401', () => {
    const open: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (Array.isArray(op.security) && op.security.length === 0) open.push(`${method} ${path}`);
        else expect([path, method, Object.keys(op.responses)]).toEqual([path, method, expect.arrayContaining(['401', '500'])]);
      }
    }
    expect(open).toEqual(['get /admin/openapi.json']);
    expect(Object.keys(doc.components.securitySchemes ?? {})).toEqual(['bearerAuth']);
    expect(doc.components.securitySchemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('derives the request bodies from the schemas the routes validate with', () => {
    const create = doc.components.schemas?.CreateKeyBody as { required: string[]; properties: Record<string, unknown>; additionalProperties: boolean };
    expect(create.required).toEqual(['name']);
    expect(Object.keys(create.properties).sort()).toEqual(['allowedModels', 'concurrency', 'dailyTokenBudget', 'enabled', 'expiresAt', 'name', 'rpm']);
    expect(create.additionalProperties).toBe(false);
    expect(doc.components.schemas?.UpdateKeyBody).toMatchObject({ minProperties: 1, additionalProperties: false });
    const enrol = doc.components.schemas?.EnrolNodeBody as { required: string[]; properties: Record<string, { pattern?: string }>; additionalProperties: boolean };
    expect(enrol.required).toEqual(['id']);
    expect(Object.keys(enrol.properties).sort()).toEqual(['id', 'label']);
    expect(enrol.properties.id?.pattern).toBe('^[A-Za-z0-9_.-]{1,64}$');
    expect(enrol.additionalProperties).toBe(false);
  });

  it('documents the node token answers as the only ones carrying a token, and the conflict of a second enrolment', () => {
    const carrying = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) => (JSON.stringify(op.responses).includes('#/components/schemas/NodeToken"') ? [`${method} ${path}`] : [])),
    );
    expect(carrying.sort()).toEqual(['post /admin/nodes', 'post /admin/nodes/{id}/token']);
    expect(Object.keys(doc.paths['/admin/nodes']?.post?.responses ?? {})).toEqual(expect.arrayContaining(['201', '400', '409']));
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
