// The drain tracker: what is in flight, when it is done, and that answers given while draining close
// their connection (no keep-alive socket left for a proxy to reuse on a gateway about to exit).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDrainTracker } from './drain.js';
import { waitFor } from '@switchyard/testkit';

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function get(url: string, agent: http.Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      })
      .on('error', reject);
  });
}

describe('drain tracker', () => {
  it('is idle at once with nothing in flight', async () => {
    const drain = createDrainTracker();
    drain.begin();
    expect(drain.draining).toBe(true);
    await expect(drain.idle(10_000)).resolves.toBe(true);
  });

  it('counts a request until its response closes, then reports idle; answers while draining close their connection', async () => {
    const drain = createDrainTracker();
    const pending: http.ServerResponse[] = [];
    const { url, server } = await serve((req, res) => {
      drain.track(req, res);
      if (req.url === '/slow') pending.push(res);
      else res.end('ok');
    });
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await get(`${url}/fast`, agent)).connection).toBe('keep-alive');
      const slow = get(`${url}/slow`, agent);
      await waitFor('the slow request to arrive', () => pending.length > 0);
      expect(drain.inFlight).toBe(1);

      drain.begin();
      const idle = drain.idle(30_000);
      expect((await get(`${url}/fast`, agent)).connection).toBe('close');
      pending[0]!.end('done');
      await expect(idle).resolves.toBe(true);
      expect(drain.inFlight).toBe(0);
      expect((await slow).status).toBe(200);
    } finally {
      agent.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives up after the timeout while a request still runs', async () => {
    const drain = createDrainTracker();
    const pending: http.ServerResponse[] = [];
    const { url, server } = await serve((req, res) => {
      drain.track(req, res);
      pending.push(res);
    });
    const agent = new http.Agent({ keepAlive: false });
    try {
      const hanging = get(url, agent).catch(() => undefined);
      await waitFor('the hanging request to arrive', () => pending.length > 0);
      drain.begin();
      await expect(drain.idle(20)).resolves.toBe(false);
      pending[0]!.end();
      await hanging;
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
