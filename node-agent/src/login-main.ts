// `login`: the OAuth authorization-code flow with PKCE for this node's account. Prints the
// authorize URL, reads the pasted code#state, stores the credential where the node reads it.
import { createInterface } from 'node:readline/promises';
import { createKeyspace, createLogger } from '@switchyard/shared';
import { loadNodeConfig } from './config.js';
import { connectStore } from './connect-store.js';
import { LoginError, runLogin } from './credentials/index.js';
import { createEgress } from './upstream/egress.js';

const config = loadNodeConfig();
const log = createLogger({ service: 'node-agent-login', level: 'warn', format: config.LOG_FORMAT });
const store = connectStore(config, log);
const egress = createEgress({
  ...(config.EGRESS_LOCAL_ADDRESS === undefined ? {} : { localAddress: config.EGRESS_LOCAL_ADDRESS }),
  ...(config.EGRESS_PROXY_URL === undefined ? {} : { proxyUrl: config.EGRESS_PROXY_URL }),
});
const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
const io = { print: (line: string) => process.stdout.write(`${line}\n`), readLine: (prompt: string) => rl.question(prompt) };

runLogin({ config, store, keys: createKeyspace(config.REDIS_PREFIX), egress, io })
  .then(async () => {
    rl.close();
    await store.close();
    egress.destroy();
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    rl.close();
    process.stderr.write(`login failed: ${err instanceof LoginError ? err.message : 'unexpected error (see the log above)'}\n`);
    if (!(err instanceof LoginError)) log.error('login failed', { err });
    await store.close().catch(() => undefined);
    process.exit(1);
  });
