// `login`: the OAuth authorization-code flow with PKCE for this node's account. Prints the authorize URL,
// reads the pasted code#state, stores the credential on the node's volume and its sealed copy at the gateway.
import { createInterface } from 'node:readline/promises';
import { createLogger } from '@switchyard/shared';
import { loadNodeConfig } from './config.js';
import { createSealedCopy, LoginError, runLogin } from './credentials/index.js';
import { createEgress } from './upstream/egress.js';

const config = loadNodeConfig();
const log = createLogger({ service: 'node-agent-login', level: 'warn', format: config.LOG_FORMAT });
const egress = createEgress({
  ...(config.EGRESS_LOCAL_ADDRESS === undefined ? {} : { localAddress: config.EGRESS_LOCAL_ADDRESS }),
  ...(config.EGRESS_PROXY_URL === undefined ? {} : { proxyUrl: config.EGRESS_PROXY_URL }),
});
const copy = createSealedCopy({
  gatewayUrl: config.GATEWAY_URL,
  nodeId: config.NODE_ID,
  token: config.NODE_TOKEN,
  allowHttp: config.GATEWAY_ALLOW_HTTP,
  log,
});
const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
const io = {
  print: (line: string) => process.stdout.write(`${line}\n`),
  readLine: (prompt: string) => rl.question(prompt),
};

runLogin({ config, egress, io, copy })
  .then(() => {
    rl.close();
    copy.close();
    egress.destroy();
    process.exit(0);
  })
  .catch((err: unknown) => {
    rl.close();
    copy.close();
    process.stderr.write(
      `login failed: ${err instanceof LoginError ? err.message : 'unexpected error (see the log above)'}\n`,
    );
    if (!(err instanceof LoginError)) log.error('login failed', { err });
    process.exit(1);
  });
