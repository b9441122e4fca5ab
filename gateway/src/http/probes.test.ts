// The probes an edge proxy and the image's health check read: ok and ready while serving, 503 draining
// from the moment the gateway drains (so the proxy moves new requests to the other replica).
import express from 'express';
import request from 'supertest';
import { createProbeRoutes, type Readiness } from './probes.js';

function appWith(state: { draining: boolean; readiness: Readiness }): express.Express {
  const app = express();
  app.use(
    createProbeRoutes({
      readiness: () => Promise.resolve(state.readiness),
      version: '1.2.3',
      gitSha: 'abc1234',
      draining: () => state.draining,
    }),
  );
  return app;
}

describe('probes', () => {
  it('report the build while serving, and readiness from Redis and the nodes', async () => {
    const state = { draining: false, readiness: { redis: true, availableNodes: 2 } };
    const app = appWith(state);
    expect((await request(app).get('/health').expect(200)).body).toEqual({
      status: 'ok',
      version: '1.2.3',
      gitSha: 'abc1234',
    });
    expect((await request(app).get('/ready').expect(200)).body).toEqual({
      status: 'ready',
      redis: 'ok',
      availableNodes: 2,
    });
    state.readiness = { redis: true, availableNodes: 0 };
    expect((await request(app).get('/ready').expect(503)).body).toMatchObject({
      status: 'not_ready',
      availableNodes: 0,
    });
  });

  it('answer 503 draining on /health and /ready once the gateway drains, whatever the fleet looks like', async () => {
    const state = { draining: true, readiness: { redis: true, availableNodes: 2 } };
    const app = appWith(state);
    expect((await request(app).get('/health').expect(503)).body).toEqual({
      status: 'draining',
      version: '1.2.3',
      gitSha: 'abc1234',
    });
    expect((await request(app).get('/ready').expect(503)).body).toEqual({
      status: 'draining',
      version: '1.2.3',
      gitSha: 'abc1234',
    });
    // Claude Code's connectivity probe is not a health check: it still answers.
    await request(app).get('/api/hello').expect(200);
  });
});
