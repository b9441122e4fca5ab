// switchyard login: the node-agent's OAuth login (node-agent/src/login-main.ts), run in this environment with
// this terminal, so the node's own variables (NODE_ID, CREDENTIALS_DIR, GATEWAY_URL, NODE_TOKEN) decide where the credential goes.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError } from '../cli-error.js';
import type { Command } from '../command.js';

/** The checkout this CLI runs from: cli/{src,dist}/commands → three levels up. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** How to start the login: the built node-agent, else its TypeScript source through tsx. */
export function loginInvocation(root: string = REPO_ROOT): string[] {
  const built = `${root}node-agent/dist/login-main.js`;
  if (existsSync(built)) return [built];
  const source = `${root}node-agent/src/login-main.ts`;
  if (!existsSync(source)) {
    throw new CliError(
      `cannot find the node-agent's login under ${root}node-agent: run switchyard from a Switchyard checkout (after npm ci)`,
    );
  }
  let tsx: string;
  try {
    tsx = import.meta.resolve('tsx');
  } catch {
    throw new CliError('the node-agent is not built and tsx is missing: run npm ci, or npm run build');
  }
  return ['--conditions=source', '--import', tsx, source];
}

/** Runs the login with this process's stdio and environment; resolves to its exit code. */
async function runLogin(): Promise<number> {
  const args = loginInvocation();
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  // The child inherits this environment: the node's variables set in this shell.
  // Ctrl-C reaches the login too (same process group): let it answer and report, then exit with its code.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new CliError(`could not start the login: ${err.message}`)));
      child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}

/** The login command. */
export const LOGIN_COMMAND: Command = {
  name: 'login',
  brief: "Log a node's Claude account in (OAuth)",
  args: '',
  minArgs: 0,
  maxArgs: 0,
  summary:
    "Log a node's Claude account in (OAuth): prints a URL to open, reads the code you paste back, stores the credential.",
  details: [
    "Runs the node-agent's login in this shell: set the node's own variables first (NODE_ID, CREDENTIALS_DIR, and GATEWAY_URL",
    'with NODE_TOKEN for the sealed copy on the gateway), as for its node-agent. Same as `npm run node-agent:login`.',
  ],
  options: {},
  local: true,
  run: runLogin,
};
