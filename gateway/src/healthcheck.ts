// `node gateway/dist/healthcheck.js [path]`: the gateway image's HEALTHCHECK. GETs the path (default
// /health; /ready also needs Redis and an available node) on this container's own gateway, at the HOST
// and PORT the gateway reads from the same environment; exits 0 on a 200, 1 otherwise.
import { runHealthcheck } from '@switchyard/shared';
import { loadGatewayConfig } from './config.js';

const config = loadGatewayConfig();
const path = process.argv[2] ?? '/health';
if (!path.startsWith('/')) {
  process.stderr.write(`usage: healthcheck.js [/health|/ready] (got "${path}")\n`);
  process.exit(2);
}
await runHealthcheck({ host: config.HOST, port: config.PORT, path });
