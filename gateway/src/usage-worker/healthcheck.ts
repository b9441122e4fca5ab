// `node gateway/dist/usage-worker/healthcheck.js`: the worker's health check (compose sets it on the
// worker service, which runs the gateway image). The worker's only listener is METRICS_PORT, whose
// /health needs no token; with METRICS_PORT=0 there is nothing to ask, and the container running at all
// is the signal.
import { runHealthcheck } from '@switchyard/shared';
import { loadWorkerConfig } from './config.js';

const config = loadWorkerConfig();
if (config.METRICS_PORT === 0) {
  process.stdout.write('healthy: no listener to probe (METRICS_PORT=0); the worker is up while its container runs\n');
  process.exit(0);
}
await runHealthcheck({ host: config.HOST, port: config.METRICS_PORT, path: '/health' });
