// `node node-agent/dist/healthcheck.js`: the node-agent image's HEALTHCHECK. GETs /health on this
// container's own node, at the HOST and PORT the node reads from the same environment; exits 0 on a 200,
// 1 otherwise.
import { runHealthcheck } from '@switchyard/shared';
import { loadNodeConfig } from './config.js';

const config = loadNodeConfig();
await runHealthcheck({ host: config.HOST, port: config.PORT, path: '/health' });
