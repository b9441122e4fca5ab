// GET /admin/alerts through the admin router: newest first as the worker pushed them, entries that are not
// alerts skipped, the read-only token allowed, no token refused.
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import express from 'express';
import { createKeyspace, createNullLogger, type AlertEvent } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/testkit';
import { createAdminRouter } from './admin-router.js';

const adminToken = randomBytes(32).toString('hex');
const readToken = randomBytes(32).toString('hex');

function alert(n: number): AlertEvent {
  return {
    id: `node_lost:node-${n}:${n}`,
    type: 'node_lost',
    at: n,
    nodeId: `node-${n}`,
    message: `Node node-${n} left.`,
    data: { lastHeartbeatAt: n },
  };
}

async function setup() {
  const store = createMemoryStore();
  const keys = createKeyspace('alert-routes:');
  // The worker LPUSHes: the newest is first.
  for (const raw of [
    JSON.stringify(alert(1)),
    'not json',
    JSON.stringify({ id: 'x', type: 'other' }),
    JSON.stringify(alert(2)),
  ])
    await store.lpush(keys.alertsRecent(), raw);
  const app = express().use(
    '/admin',
    createAdminRouter({ store, keys, adminToken, readToken, registry: { nodes: () => [] }, log: createNullLogger() }),
  );
  return app;
}

describe('GET /admin/alerts', () => {
  it('lists the recent alerts newest first, skipping entries that are not alerts, for the read-only token too', async () => {
    const app = await setup();
    for (const token of [adminToken, readToken]) {
      const res = await request(app).get('/admin/alerts').set('authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ alerts: [alert(2), alert(1)] });
    }
  });

  it('refuses a request without a token', async () => {
    const res = await request(await setup()).get('/admin/alerts');
    expect(res.status).toBe(401);
  });
});
