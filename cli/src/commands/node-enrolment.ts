// switchyard nodes add|rotate|revoke: a node's identity on the gateway (POST /admin/nodes, POST /admin/nodes/:id/token,
// DELETE /admin/nodes/:id). The token is printed once, as the line(s) the node's .env needs, and nowhere else.
import { ApiError, CliError, UsageError } from '../cli-error.js';
import { stringFlag, type Command, type CommandContext } from '../command.js';
import { normalizeGatewayUrl } from '../admin-client.js';

/** What a node id may look like: the gateway's NODE_ID_RE (gateway/src/nodes/enrolment.ts), checked here to name the mistake before a request. */
const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** POST /admin/nodes and POST /admin/nodes/:id/token. */
interface NodeToken {
  nodeId: string;
  label?: string;
  token: string;
  tokenHint: string;
  createdAt: number;
  rotatedAt?: number;
  env: { GATEWAY_URL?: string; NODE_ID: string; NODE_TOKEN: string };
}

/** The node's id argument, or a usage error naming the rule. */
export function nodeIdArg(ctx: Pick<CommandContext, 'args'>, usage: string): string {
  const id = ctx.args[0] ?? '';
  if (!NODE_ID_RE.test(id))
    throw new UsageError(
      `invalid node id '${id}': use 1-64 letters, digits, _ . or - (the node's NODE_ID). Usage: ${usage}`,
    );
  return id;
}

/** A 404 from a node route, in the CLI's words; anything else as it came. */
export function unknownNode(err: unknown, id: string): unknown {
  if (err instanceof ApiError && err.status === 404)
    return new CliError(`no enrolled node '${id}' (see switchyard nodes list)`);
  return err;
}

/** The `.env` lines of a node: GATEWAY_URL, NODE_ID, NODE_TOKEN. */
export function envLines(env: { GATEWAY_URL: string; NODE_ID: string; NODE_TOKEN: string }): string[] {
  return [`GATEWAY_URL=${env.GATEWAY_URL}`, `NODE_ID=${env.NODE_ID}`, `NODE_TOKEN=${env.NODE_TOKEN}`];
}

/** The URL the node dials: --gateway-url, else the one this CLI talks to. */
function nodeGatewayUrl(ctx: CommandContext, clientUrl: string): string {
  const given = stringFlag(ctx.flags, 'gateway-url');
  if (given === undefined) return clientUrl;
  try {
    return normalizeGatewayUrl(given);
  } catch {
    throw new UsageError(
      `--gateway-url expects the URL the node dials, http(s)://host[:port] without credentials; got '${given}'`,
    );
  }
}

function isLoopback(url: string): boolean {
  return LOOPBACK_HOSTS.has(new URL(url).hostname);
}

async function addNode(ctx: CommandContext): Promise<void> {
  const id = nodeIdArg(ctx, 'switchyard nodes add <id> [--label L]');
  const label = stringFlag(ctx.flags, 'label');
  const client = ctx.client();
  const gatewayUrl = nodeGatewayUrl(ctx, client.url);
  let made: NodeToken;
  try {
    made = (await client.request('POST', '/nodes', label === undefined ? { id } : { id, label })) as NodeToken;
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      throw new CliError(
        `node '${id}' is already enrolled (a new token: switchyard nodes rotate ${id}; start over: switchyard nodes revoke ${id})`,
      );
    }
    throw err;
  }
  const env = { GATEWAY_URL: gatewayUrl, NODE_ID: made.env.NODE_ID, NODE_TOKEN: made.env.NODE_TOKEN };
  if (ctx.json) return ctx.printJson({ ...made, env });
  for (const line of envLines(env)) ctx.print(line);
  const where = isLoopback(gatewayUrl)
    ? ` GATEWAY_URL is this machine's loopback: for a node on another host pass --gateway-url.`
    : '';
  ctx.note(
    `Enrolled node ${id}. The token is shown only this once: put these lines in the node's .env, then docker compose up -d.${where}`,
  );
}

async function rotateToken(ctx: CommandContext): Promise<void> {
  const id = nodeIdArg(ctx, 'switchyard nodes rotate <id>');
  let made: NodeToken;
  try {
    made = (await ctx.client().request('POST', `/nodes/${encodeURIComponent(id)}/token`)) as NodeToken;
  } catch (err) {
    throw unknownNode(err, id);
  }
  if (ctx.json) return ctx.printJson(made);
  ctx.print(`NODE_TOKEN=${made.token}`);
  ctx.note(
    `New token for node ${id}, shown only this once; the old one no longer works. Replace NODE_TOKEN in the node's .env and restart it.`,
  );
}

async function revokeNode(ctx: CommandContext): Promise<void> {
  const id = nodeIdArg(ctx, 'switchyard nodes revoke <id>');
  let answer: unknown;
  try {
    answer = await ctx.client().request('DELETE', `/nodes/${encodeURIComponent(id)}`);
  } catch (err) {
    throw unknownNode(err, id);
  }
  if (ctx.json) return ctx.printJson(answer);
  ctx.print(
    `Revoked node ${id}: its token no longer works and every gateway closes its connections within 5 s. Its sealed credential copy is deleted.`,
  );
}

/** The enrolment commands. */
export const ENROLMENT_COMMANDS: Record<'add' | 'rotate' | 'revoke', Command> = {
  add: {
    name: 'nodes add',
    brief: 'Enrol a node: prints its .env lines (token shown once)',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary:
      "Enrol a node on the gateway and print the lines for the node's .env: GATEWAY_URL, NODE_ID and NODE_TOKEN.",
    details: [
      'The token is shown only this once (the gateway keeps only its digest); the note about it goes to stderr, so',
      '`switchyard nodes add node-c >> .env` writes just the three lines. With --json, env carries GATEWAY_URL too.',
    ],
    options: {
      label: { type: 'string', value: 'L', help: 'A label for people (e.g. whose account it is)' },
      'gateway-url': {
        type: 'string',
        value: 'URL',
        help: 'The GATEWAY_URL the node dials, when it differs from --url (default: --url; pass it when the admin API has its own port, ADMIN_PORT)',
      },
    },
    run: addNode,
  },
  rotate: {
    name: 'nodes rotate',
    brief: 'A new token for a node; the old one stops working',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary: "Rotate a node's token: prints the new NODE_TOKEN line (shown once); the old token stops working at once.",
    details: [
      "Put the new line in the node's .env and restart it: it re-seals its credential copy under the new token.",
    ],
    options: {},
    run: rotateToken,
  },
  revoke: {
    name: 'nodes revoke',
    brief: 'Remove a node: its token stops working',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary:
      'Revoke a node: its token stops working, every gateway closes its connections within 5 s, its sealed credential copy is deleted.',
    options: {},
    run: revokeNode,
  },
};
