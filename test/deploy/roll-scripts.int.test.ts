// The roll-out scripts, run for real: deploy/roll-fleet.sh and deploy/roll-gateway.sh (through deploy/ssh-run.sh)
// with a fake `ssh` and a fake `docker` first on PATH (test/deploy/fakes: they record every call in one log and
// play the hosts' containers in temp directories), and a small HTTP server that answers GET /admin/nodes like
// the gateway's admin listener from the nodes' current containers (a node is listed while it is connected, with
// the state it reports over its tunnel), reached as in production: through an SSH tunnel to the gateway host's
// loopback (the fake ssh relays a Unix socket to the stand-in's port), with the read-only token. What an operator
// relies on: the canary goes first, one node at a time, each drains (stop) before it starts again, the next node
// waits for the previous one to dial in again reporting the new git sha, the first failure stops the roll-out with
// the rest untouched, SSH only ever talks to hosts whose key is pinned, and no script needs ADMIN_TOKEN. The
// gateway host: gateway-1 is replaced, passes /ready and has every node the old gateway-2 had dialled in before
// gateway-2 is touched, so no node is ever without a tunnel to a serving replica; a replica whose nodes cannot be
// listed with the read-only token stops the roll-out before anything is touched. Before any of that, on the runner:
// deploy/verify-image.sh resolves the tag to a digest (a fake `docker buildx imagetools inspect` reading a registry
// file the test writes) and checks its signature (a fake `cosign verify` reading a signatures file, applying the
// identity regexp, issuer, repository and, for a sha-<commit> tag, the commit it is given); only this repository's
// release workflow for the component, on main or a release tag, run on the commit a sha- tag names, passes, and only
// with image signatures (an attestation is none), and the hosts get `tag@sha256:<digest>`. Anything else stops the
// roll-out with the reason before the first SSH connection: the log shows no host call, and every host is as it was.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort } from '@switchyard/testkit';

jest.setTimeout(60_000);

const REPO = resolve(__dirname, '../..');
const DEPLOY = join(REPO, 'deploy');
const READ_TOKEN = 'test-read-only-token-for-the-fake-gateway';
/** The gateway host, whose loopback has the admin listeners (the fake ssh plays it here). */
const GATEWAY_HOST = 'gw-host';
const sha = () => randomBytes(20).toString('hex');
const newDigest = () => `sha256:${randomBytes(32).toString('hex')}`;
/** This repository as github.repository spells it: mixed case and a dot, which the identity regexp must escape. */
const SIGNER = 'Acme-Labs/switch.yard';
const ISSUER = 'https://token.actions.githubusercontent.com';
const NODE_IMAGE = 'ghcr.io/acme-labs/switchyard-node-agent';
const GATEWAY_IMAGE = 'ghcr.io/acme-labs/switchyard-gateway';
type Component = 'gateway' | 'node-agent';
/** The certificate identity GitHub's OIDC token gives a workflow of a repository, run for a ref. */
const identity = (workflow: string, ref = 'refs/heads/main', repo = SIGNER) =>
  `https://github.com/${repo}/.github/workflows/${workflow}@${ref}`;

interface NodeSpec {
  id: string;
  host: string;
  port?: number;
  /** Lines of the host's fake-behaviour file (see test/deploy/fakes/docker) plus the admin server's own: report=stale|crashloop. */
  behaviour?: string[];
  /** Its host key is in known_hosts (default true). */
  pinned?: boolean;
  /** The git sha it runs before the roll-out. */
  oldSha?: string;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  log: string[];
}

let root: string;
let fakeLog: string;
let fakeBin: string;
let keyFile: string;
let knownHosts: string;
let registry: string;
let signatures: string;
let stepSummary: string;

beforeAll(() => {
  // What the scripts need besides bash, as on GitHub's runners: say so plainly rather than fail obscurely.
  const missing = ['curl', 'jq'].filter((tool) => spawnSync(tool, ['--version']).status !== 0);
  if (missing.length > 0)
    throw new Error(`the roll-out scripts need ${missing.join(' and ')} (apt-get install -y ${missing.join(' ')})`);
});

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sy-roll-'));
  fakeLog = join(root, 'calls.log');
  writeFileSync(fakeLog, '');
  fakeBin = join(root, 'bin');
  mkdirSync(fakeBin);
  for (const tool of ['ssh', 'docker', 'cosign']) {
    copyFileSync(join(REPO, 'test/deploy/fakes', tool), join(fakeBin, tool));
    chmodSync(join(fakeBin, tool), 0o755);
  }
  keyFile = join(root, 'deploy-key');
  writeFileSync(keyFile, 'placeholder: the fake ssh never reads it\n', { mode: 0o600 });
  knownHosts = join(root, 'known_hosts');
  registry = join(root, 'registry');
  signatures = join(root, 'signatures');
  stepSummary = join(root, 'step-summary.md');
  writeFileSync(registry, '');
  writeFileSync(
    signatures,
    '# sha256:<digest> <certificate identity> <issuer> [repository=…] [sha=…] [payload-digest=…] [type=…]\n',
  );
  writeFileSync(stepSummary, '');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function run(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn('bash', [join(DEPLOY, script), ...args], {
      env: {
        PATH: `${fakeBin}:${process.env.PATH ?? ''}`,
        HOME: root,
        FAKE_LOG: fakeLog,
        FAKE_REGISTRY: registry,
        FAKE_SIGNATURES: signatures,
        GITHUB_STEP_SUMMARY: stepSummary,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) =>
      done({ code: code ?? -1, stdout, stderr, log: readFileSync(fakeLog, 'utf8').split('\n').filter(Boolean) }),
    );
  });
}

/** Pushes IMAGE:TAG to the fake registry; returns its digest. */
function publish(image: string, tag: string, digest = newDigest()): string {
  appendFileSync(registry, `${image}:${tag} ${digest}\n`);
  return digest;
}

/** The digest IMAGE:TAG has in the fake registry (the last push wins), or undefined. */
const published = (image: string, tag: string) =>
  readFileSync(registry, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${image}:${tag} `))
    .map((l) => l.split(' ')[1]!)
    .at(-1);

/** The commit a sha-<40 hex> tag of the digest names in the fake registry (the first such tag), or undefined. */
const commitOf = (digest: string) =>
  readFileSync(registry, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find(([ref, d]) => d === digest && /:sha-[0-9a-f]{40}$/.test(ref ?? ''))?.[0]
    ?.slice(-40);

/**
 * Stores a keyless signature on the digest, with the certificate's identity and issuer (and extras, see fakes/cosign).
 * Unless the extras give one (sha=…), the certificate's GitHub workflow sha is the commit a sha- tag of the digest
 * names, as when the release workflow run on that commit pushed the tag and signed its digest.
 */
function sign(digest: string, subject: string, issuer = ISSUER, extras: string[] = []): void {
  const commit = commitOf(digest);
  const workflowSha = commit === undefined || extras.some((e) => e.startsWith('sha=')) ? [] : [`sha=${commit}`];
  appendFileSync(signatures, [digest, subject, issuer, ...workflowSha, ...extras].join(' ') + '\n');
}

/** What the release workflow of the component does on main: push the tag, sign its digest. */
function release(component: Component, tag: string, ref = 'refs/heads/main'): string {
  const digest = publish(component === 'gateway' ? GATEWAY_IMAGE : NODE_IMAGE, tag);
  sign(digest, identity(`release-${component}.yml`, ref));
  return digest;
}

/** What the tests count as touching a host: any SSH connection (a tunnel included) or a docker call played on a host. */
const hostCalls = (log: string[]) => log.filter((l) => l.startsWith('ssh ') || l.startsWith('docker host='));

function pin(hosts: { host: string; port?: number }[]): void {
  // Public-key-shaped placeholders: only the host column matters to the fake ssh.
  const lines = hosts.map(
    ({ host, port }) =>
      `${port === undefined || port === 22 ? host : `[${host}]:${port}`} ssh-ed25519 placeholder-host-key`,
  );
  writeFileSync(knownHosts, lines.join('\n') + '\n');
}

/** A host directory as deploy/roll-node.sh finds it: .env, and the fake node-agent container running oldSha. */
function nodeDir(spec: NodeSpec, oldSha: string, startedAt: number): string {
  const dir = join(root, 'hosts', spec.host);
  mkdirSync(join(dir, '.fake'), { recursive: true });
  writeFileSync(
    join(dir, '.env'),
    `GATEWAY_URL=https://gw.example.test\nNODE_ID=${spec.id}\nNODE_TOKEN=placeholder\nNODE_AGENT_TAG=sha-${oldSha}\n`,
  );
  writeFileSync(join(dir, '.fake/node-agent'), `running ${oldSha} ${startedAt}\n`);
  writeFileSync(join(dir, 'fake-behaviour'), (spec.behaviour ?? []).join('\n') + '\n');
  return dir;
}

interface Fleet {
  nodes: (NodeSpec & { dir: string })[];
  list: string;
  admin: { url: string; port: number; server: Server };
}

/**
 * The fake gateway's GET /admin/nodes: one entry per node whose container runs, from its state file. A node
 * that just (re)started shows up one poll late (it is still dialling in); report=stale keeps showing the entry
 * from before the roll-out (a new process that never connects, while the gateway still lists the old one);
 * report=crashloop shows a new process at every poll.
 */
async function startAdmin(
  nodes: Fleet['nodes'],
  initial: Map<string, { gitSha: string; startedAt: number }>,
): Promise<Fleet['admin']> {
  const lastState = new Map<string, { state: string; polls: number }>();
  const lastServed = new Map<string, string>();
  for (const node of nodes)
    lastState.set(node.id, { state: readFileSync(join(node.dir, '.fake/node-agent'), 'utf8'), polls: 1 });
  const server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${READ_TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    if (req.method !== 'GET' || req.url !== '/admin/nodes') {
      res.writeHead(404).end();
      return;
    }
    const entries = [];
    for (const node of nodes) {
      const state = readFileSync(join(node.dir, '.fake/node-agent'), 'utf8');
      const seen = lastState.get(node.id)!;
      if (seen.state !== state) lastState.set(node.id, { state, polls: 0 });
      const polls = ++lastState.get(node.id)!.polls;
      const behaviour = readFileSync(join(node.dir, 'fake-behaviour'), 'utf8');
      const [status, gitSha, startedAt] = state.trim().split(' ');
      let entry: { gitSha: string; startedAt: number } | undefined;
      if (behaviour.includes('report=stale')) entry = initial.get(node.id);
      else if (status === 'running' && polls >= 2) {
        const restarted = behaviour.includes('report=crashloop') && polls > 2;
        entry = { gitSha: gitSha!, startedAt: restarted ? Number(startedAt) + polls : Number(startedAt) };
      }
      if (!entry) continue;
      entries.push({
        nodeId: node.id,
        version: '0.1.0',
        gitSha: entry.gitSha,
        startedAt: entry.startedAt,
        heartbeatAt: Date.now(),
        state: 'available',
      });
      const served = `${entry.gitSha} ${entry.startedAt}`;
      if (lastServed.get(node.id) !== served) {
        lastServed.set(node.id, served);
        appendFileSync(fakeLog, `admin ${node.id} gitSha=${entry.gitSha} startedAt=${entry.startedAt}\n`);
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ nodes: entries }));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((closed) => s.close(closed))));
});

async function fleet(specs: NodeSpec[], gatewayPinned = true): Promise<Fleet> {
  const initial = new Map<string, { gitSha: string; startedAt: number }>();
  const nodes = specs.map((spec, i) => {
    const before = { gitSha: spec.oldSha ?? sha(), startedAt: 1_700_000_000_000 + i };
    initial.set(spec.id, before);
    return { ...spec, dir: nodeDir(spec, before.gitSha, before.startedAt) };
  });
  pin([...specs.filter((s) => s.pinned !== false), ...(gatewayPinned ? [{ host: GATEWAY_HOST }] : [])]);
  const admin = await startAdmin(nodes, initial);
  servers.push(admin.server);
  const list = [
    '# the canary first',
    ...nodes.map((n) => `deploy@${n.host}${n.port === undefined ? '' : `:${n.port}`} ${n.dir} ${n.id}`),
    '',
  ].join('\n');
  return { nodes, list, admin };
}

/** roll-fleet.sh as deploy-fleet.yml runs it. Unless told not to (publish: false), the tag it rolls is first released as the release workflow does on main, when the test has not put it in the registry itself. */
function rollFleet(
  f: Fleet,
  newSha: string,
  env: Record<string, string> = {},
  { publish: push = true } = {},
): Promise<Run> {
  const tag = env.IMAGE_TAG ?? `sha-${newSha}`;
  if (push && !published(NODE_IMAGE, tag)) release('node-agent', tag);
  return run('roll-fleet.sh', [], {
    FLEET_NODES: f.list,
    IMAGE: NODE_IMAGE,
    IMAGE_TAG: tag,
    SIGNER_REPOSITORY: SIGNER,
    GATEWAY_SSH_HOST: `deploy@${GATEWAY_HOST}`,
    GATEWAY_ADMIN_PORTS: String(f.admin.port),
    ADMIN_READ_TOKEN: READ_TOKEN,
    // The stand-in answers with the fleet through the relay only: the tests never give the scripts its URL.
    SSH_KEY_FILE: keyFile,
    SSH_KNOWN_HOSTS_FILE: knownHosts,
    NODE_WAIT_TIMEOUT: '10',
    NODE_POLL_INTERVAL: '0.05',
    ROLL_HEALTH_TIMEOUT: '5',
    ROLL_POLL_INTERVAL: '0.05',
    ...env,
  });
}

const onHost = (log: string[], host: string) =>
  log.filter((l) => l.startsWith(`docker host=${host} `) || l.startsWith(`ssh dest=deploy@${host} `));
const dockerSubcommands = (log: string[], host: string) =>
  log.filter((l) => l.startsWith(`docker host=${host} `)).map((l) => l.split(' ')[3]);
const firstIndex = (log: string[], match: (line: string) => boolean) => log.findIndex(match);
const lastIndex = (log: string[], match: (line: string) => boolean) =>
  log.map((l, i) => (match(l) ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
const runningSha = (dir: string, service = 'node-agent') =>
  readFileSync(join(dir, '.fake', service), 'utf8').split(' ')[1];

describe('roll-fleet.sh: the node-agent to every node', () => {
  it('rolls the canary first, then one node at a time: each drains before it restarts, the next waits for it to dial in with the new sha', async () => {
    const f = await fleet([
      { id: 'node-a', host: 'host-a' },
      { id: 'node-b', host: 'host-b', port: 2222 },
      { id: 'node-c', host: 'host-c' },
    ]);
    const newSha = sha();
    const digest = release('node-agent', `sha-${newSha}`);
    const r = await rollFleet(f, newSha);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining(`all 3 node(s) run git sha ${newSha}`) as unknown,
    });

    // Before anything else, here: the tag resolved to its digest, and that digest's signature checked.
    expect(r.log.slice(0, 2)).toEqual([
      `docker buildx imagetools inspect ${NODE_IMAGE}:sha-${newSha}`,
      expect.stringMatching(new RegExp(`^cosign verify ${NODE_IMAGE}@${digest} `)) as unknown,
    ]);
    expect(r.stderr).toContain(`every node gets sha-${newSha}@${digest}`);
    // First the tunnel to the gateway host's admin listener (pinned like every host), then the nodes.
    const ssh = r.log.filter((l) => l.startsWith('ssh '));
    expect(ssh[0]).toMatch(
      new RegExp(
        `^ssh dest=deploy@${GATEWAY_HOST} port=22 key=${keyFile} strict=yes known=${knownHosts} forward=/\\S+/${f.admin.port}\\.sock:127\\.0\\.0\\.1:${f.admin.port}$`,
      ),
    );
    // SSH to the nodes: the list's order, each with the pinned known_hosts and strict checking, the port from the list.
    expect(ssh.slice(1)).toEqual([
      `ssh dest=deploy@host-a port=22 key=${keyFile} strict=yes known=${knownHosts}`,
      `ssh dest=deploy@host-b port=2222 key=${keyFile} strict=yes known=${knownHosts}`,
      `ssh dest=deploy@host-c port=22 key=${keyFile} strict=yes known=${knownHosts}`,
    ]);
    for (const node of f.nodes) {
      // Pull while the old node still serves, then drain (stop), then start, then the health probe.
      expect(dockerSubcommands(r.log, node.host).slice(0, 4)).toEqual(['pull', 'stop', 'up', 'exec']);
      expect(runningSha(node.dir)).toBe(newSha);
      const env = readFileSync(join(node.dir, '.env'), 'utf8');
      // Pinned to the verified digest: compose's image is …/switchyard-node-agent:sha-<sha>@sha256:<digest>.
      expect(env.match(/^NODE_AGENT_TAG=.*$/gm)).toEqual([`NODE_AGENT_TAG=sha-${newSha}@${digest}`]);
      expect(env).toContain(`NODE_ID=${node.id}`);
    }
    // One at a time: a node is touched only after the previous one reported the new sha over its tunnel.
    for (const [prev, next] of [
      [f.nodes[0]!, f.nodes[1]!],
      [f.nodes[1]!, f.nodes[2]!],
    ] as const) {
      const prevDone = lastIndex(r.log, (l) => onHost([l], prev.host).length > 0);
      const reported = firstIndex(r.log, (l) => l.startsWith(`admin ${prev.id} gitSha=${newSha}`));
      const nextStart = firstIndex(r.log, (l) => onHost([l], next.host).length > 0);
      expect(prevDone).toBeGreaterThan(-1);
      expect(reported).toBeGreaterThan(prevDone);
      expect(nextStart).toBeGreaterThan(reported);
    }
  });

  it('stops at a canary that never reports the new sha: no other node is touched', async () => {
    const f = await fleet([
      { id: 'node-a', host: 'host-a', behaviour: ['report=stale'] },
      { id: 'node-b', host: 'host-b' },
      { id: 'node-c', host: 'host-c' },
    ]);
    const oldB = runningSha(f.nodes[1]!.dir);
    const newSha = sha();
    const r = await rollFleet(f, newSha, { NODE_WAIT_TIMEOUT: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`node node-a did not report git sha ${newSha} from a new process`);
    expect(r.stderr).toContain('FAILED on node-a');
    expect(r.stderr).toContain('not touched: node-b node-c');
    expect(onHost(r.log, 'host-b')).toEqual([]);
    expect(onHost(r.log, 'host-c')).toEqual([]);
    expect(runningSha(f.nodes[1]!.dir)).toBe(oldB);
  });

  it('stops at the first node whose image cannot be pulled, before draining it; the nodes after it are not touched', async () => {
    const f = await fleet([
      { id: 'node-a', host: 'host-a' },
      { id: 'node-b', host: 'host-b', behaviour: ['pull=fail'] },
      { id: 'node-c', host: 'host-c' },
    ]);
    const oldB = runningSha(f.nodes[1]!.dir);
    const newSha = sha();
    const r = await rollFleet(f, newSha);
    expect(r.code).toBe(1);
    expect(runningSha(f.nodes[0]!.dir)).toBe(newSha);
    expect(dockerSubcommands(r.log, 'host-b')).toEqual(['pull']);
    expect(runningSha(f.nodes[1]!.dir)).toBe(oldB);
    expect(r.stderr).toContain('could not pull the image; the running node was not touched');
    expect(r.stderr).toContain('not touched: node-c');
    expect(onHost(r.log, 'host-c')).toEqual([]);
  });

  it('refuses a host whose key is not pinned, and stops there', async () => {
    const f = await fleet([
      { id: 'node-a', host: 'host-a' },
      { id: 'node-b', host: 'host-b', pinned: false },
      { id: 'node-c', host: 'host-c' },
    ]);
    const r = await rollFleet(f, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Host key verification failed.');
    expect(r.stderr).toContain('FAILED on node-b');
    expect(dockerSubcommands(r.log, 'host-b')).toEqual([]);
    expect(onHost(r.log, 'host-c')).toEqual([]);
  });

  it('rolling out the version already running still waits for the restarted process, not the old one’s entry', async () => {
    const same = sha();
    const stale = await fleet([{ id: 'node-a', host: 'host-a', oldSha: same, behaviour: ['report=stale'] }]);
    const r = await rollFleet(stale, same, { NODE_WAIT_TIMEOUT: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`last seen: git sha ${same}, started at 1700000000000`);

    rmSync(join(root, 'hosts'), { recursive: true });
    writeFileSync(fakeLog, '');
    const fresh = await fleet([{ id: 'node-a', host: 'host-a', oldSha: same }]);
    const ok = await rollFleet(fresh, same);
    expect(ok.code).toBe(0);
    expect(dockerSubcommands(ok.log, 'host-a').slice(0, 3)).toEqual(['pull', 'stop', 'up']);
  });

  it('stops when the canary does not stay up through its soak', async () => {
    const f = await fleet([
      { id: 'node-a', host: 'host-a', behaviour: ['report=crashloop'] },
      { id: 'node-b', host: 'host-b' },
    ]);
    const r = await rollFleet(f, sha(), { CANARY_SOAK_SECONDS: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the canary did not stay up through the soak');
    expect(onHost(r.log, 'host-b')).toEqual([]);
  });

  it('with a tag that names no sha, takes the canary’s build as the one every node must run', async () => {
    const built = sha();
    const other = sha();
    const f = await fleet([
      { id: 'node-a', host: 'host-a', behaviour: [`image-sha=${built}`] },
      { id: 'node-b', host: 'host-b', behaviour: [`image-sha=${other}`] },
      { id: 'node-c', host: 'host-c' },
    ]);
    const r = await rollFleet(f, sha(), { IMAGE_TAG: 'latest' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the canary runs git sha ${built}`);
    expect(r.stderr).toContain(`the new node runs git sha '${other}', expected '${built}'`);
    expect(onHost(r.log, 'host-c')).toEqual([]);
  });

  it('checks the whole node list before touching any node', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const r = await rollFleet(f, sha(), { FLEET_NODES: `${f.list}\ndeploy@host-b /opt/switchyard-node\n` });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/FLEET_NODES line \d+ is not 'user@host\[:port\] \/path\/to\/dir node-id'/);
    expect(r.stderr).toContain('no node was touched');
    expect(r.log).toEqual([]);
  });

  it('refuses a wrong read-only token at once rather than waiting', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const r = await rollFleet(f, sha(), { ADMIN_READ_TOKEN: 'not-the-token' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused ADMIN_READ_TOKEN');
    expect(onHost(r.log, 'host-a')).toEqual([]);
  });

  it('needs the read-only token, never the admin token: with ADMIN_TOKEN alone it touches nothing and names ADMIN_READ_TOKEN', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const r = await rollFleet(f, sha(), { ADMIN_READ_TOKEN: '', ADMIN_TOKEN: READ_TOKEN });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('set ADMIN_READ_TOKEN');
    expect(r.log).toEqual([]);
  });

  it('closes its tunnel when it ends: its sockets and their directory are gone', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const r = await rollFleet(f, sha());
    expect(r.code).toBe(0);
    const socket = /forward=(\S+\.sock):/.exec(r.log.find((l) => l.includes(' forward=')) ?? '')?.[1];
    expect(socket).toBeDefined();
    expect(existsSync(dirname(socket!))).toBe(false);
  });

  it('reads gateway-2’s admin listener when gateway-1’s does not answer (e.g. it is being replaced)', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const closed = await freePort();
    const newSha = sha();
    const r = await rollFleet(f, newSha, { GATEWAY_ADMIN_PORTS: `${closed} ${f.admin.port}` });
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining(`all 1 node(s) run git sha ${newSha}`) as unknown,
    });
    expect(r.log.find((l) => l.includes(' forward='))).toContain(`${closed}.sock:127.0.0.1:${closed},`);
  });

  it('reaches the admin listeners only through a pinned gateway host: an unpinned one opens no tunnel and no node is touched', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }], false);
    const r = await rollFleet(f, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Host key verification failed.');
    expect(r.stderr).toContain(`could not open the SSH tunnel to the admin listeners on deploy@${GATEWAY_HOST}`);
    expect(onHost(r.log, 'host-a')).toEqual([]);
  });

  it('by hand, ADMIN_ENDPOINTS names admin listeners already reachable (your own tunnel): no tunnel of its own', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const r = await rollFleet(f, sha(), { GATEWAY_SSH_HOST: '', ADMIN_ENDPOINTS: f.admin.url });
    expect(r.code).toBe(0);
    expect(r.log.some((l) => l.includes(' forward='))).toBe(false);
  });

  it('an endpoint that answers /admin with 404 (the public URL, a main port) is no admin listener: it stops at once, naming ADMIN_PORT', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const publicSide = createServer((_req, res) =>
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"type":"error","error":{"type":"not_found_error","message":"Not found"}}'),
    );
    await new Promise<void>((listening) => publicSide.listen(0, '127.0.0.1', listening));
    servers.push(publicSide);
    const r = await rollFleet(f, sha(), {
      GATEWAY_SSH_HOST: '',
      ADMIN_ENDPOINTS: `http://127.0.0.1:${(publicSide.address() as AddressInfo).port}`,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('that is no admin listener');
    expect(r.stderr).toContain('ADMIN_ENDPOINTS must reach ADMIN_PORT');
    expect(hostCalls(r.log)).toEqual([]);
  });
});

/** The gateway host's directory as deploy/roll-gateway.sh finds it: .env, and gateway-1, gateway-2 and the worker running oldSha. */
function gatewayHost(behaviour: string[], oldSha: string): string {
  const dir = join(root, 'hosts', 'gw');
  mkdirSync(join(dir, '.fake'), { recursive: true });
  writeFileSync(join(dir, '.env'), `GATEWAY_TAG=sha-${oldSha}\nGATEWAY_PORT=8080\n`);
  for (const service of ['gateway-1', 'gateway-2', 'worker'])
    writeFileSync(join(dir, '.fake', service), `running ${oldSha} 1\n`);
  writeFileSync(join(dir, 'fake-behaviour'), behaviour.join('\n') + '\n');
  pin([{ host: 'gw' }]);
  return dir;
}

describe('roll-gateway.sh: the gateway host, one replica at a time', () => {
  // A short /ready budget for the tests that expect a failure; the nodes' budget is long unless a test expects them to fail.
  const rollGateway = (dir: string, newSha: string, nodesTimeout = 60) =>
    run('ssh-run.sh', ['deploy@gw', join(DEPLOY, 'roll-gateway.sh'), dir, `sha-${newSha}`, newSha], {
      SSH_KEY_FILE: keyFile,
      SSH_KNOWN_HOSTS_FILE: knownHosts,
      REMOTE_ENV: `ROLL_HEALTH_TIMEOUT=2 ROLL_NODES_TIMEOUT=${nodesTimeout} ROLL_POLL_INTERVAL=0.05 ROLL_SETTLE_SECONDS=0`,
    });

  it('replaces gateway-1, waits for its /ready and for every node to dial in to it, then gateway-2, then the worker', async () => {
    const dir = gatewayHost(['ready-after=2', 'nodes=node-a,node-b', 'rejoin-after=2'], sha());
    const newSha = sha();
    const r = await rollGateway(dir, newSha);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining('done: gateway-1 gateway-2 and worker run the new image') as unknown,
    });
    const at = (match: string) => firstIndex(r.log, (l) => l.includes(match));
    expect(at('compose pull gateway-1 gateway-2 worker')).toBeGreaterThan(-1);
    const up1 = at('compose up -d --no-deps --force-recreate gateway-1');
    const ready1 = at('probe host=gw gateway-1 /ready ok');
    const up2 = at('compose up -d --no-deps --force-recreate gateway-2');
    const ready2 = at('probe host=gw gateway-2 /ready ok');
    const upWorker = at('compose up -d --no-deps --force-recreate worker');
    expect(at('compose pull')).toBeLessThan(up1);
    // It waited: /ready failed before it passed, and only then was gateway-2 touched.
    expect(r.log.filter((l) => l === 'probe host=gw gateway-1 /ready fail')).toHaveLength(2);
    expect(up1).toBeLessThan(ready1);
    // The nodes gateway-2 has were listed before gateway-1 was touched; the new gateway-1 listed none of them
    // twice, then both, and only then was gateway-2 touched (its nodes have a tunnel to the new gateway-1 by then).
    const other2 = at('nodes host=gw gateway-2 node-a,node-b');
    const rejoined1 = at('nodes host=gw gateway-1 node-a,node-b');
    expect(r.log.filter((l) => l === 'nodes host=gw gateway-1 none')).toHaveLength(2);
    expect(other2).toBeLessThan(up1);
    expect(ready1).toBeLessThan(rejoined1);
    expect(rejoined1).toBeLessThan(up2);
    expect(r.stderr).toContain('gateway-1 has every node gateway-2 has: node-a node-b');
    expect(ready1).toBeLessThan(up2);
    expect(up2).toBeLessThan(ready2);
    expect(ready2).toBeLessThan(upWorker);
    for (const service of ['gateway-1', 'gateway-2', 'worker']) expect(runningSha(dir, service)).toBe(newSha);
    expect(readFileSync(join(dir, '.env'), 'utf8').match(/^GATEWAY_TAG=.*$/gm)).toEqual([`GATEWAY_TAG=sha-${newSha}`]);
  });

  it('stops when a node does not dial in to the new gateway-1: gateway-2 keeps serving it, untouched', async () => {
    const oldSha = sha();
    const dir = gatewayHost(['nodes=node-a,node-b,node-c', 'nodes.gateway-1=node-b'], oldSha);
    const r = await rollGateway(dir, sha(), 1);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'these nodes did not dial in to the new gateway-1 within 1s: node-a node-c (gateway-2 still serves them; it was not touched)',
    );
    expect(r.log.some((l) => l.includes('--force-recreate gateway-2'))).toBe(false);
    expect(runningSha(dir, 'gateway-2')).toBe(oldSha);
    expect(runningSha(dir, 'worker')).toBe(oldSha);
  });

  it('with no node connected (a fresh stack), does not wait for any', async () => {
    const dir = gatewayHost([], sha());
    const newSha = sha();
    const r = await rollGateway(dir, newSha);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no node is connected to gateway-2: none to wait for');
    for (const service of ['gateway-1', 'gateway-2', 'worker']) expect(runningSha(dir, service)).toBe(newSha);
  });

  it('stops when gateway-1 never becomes ready: gateway-2 and the worker keep the old image', async () => {
    const oldSha = sha();
    const dir = gatewayHost(['health.gateway-1=never'], oldSha);
    const r = await rollGateway(dir, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gateway-1 did not pass /ready within 2s');
    // gateway-2 was only asked for its nodes (before gateway-1 was touched), never pulled down or recreated.
    const listing = (l: string) =>
      l.includes(' exec -T gateway-2 node -e ') || l.startsWith('nodes host=gw gateway-2 ');
    expect(r.log.filter((l) => l.includes('gateway-2') && !l.includes('compose pull') && !listing(l))).toEqual([]);
    expect(runningSha(dir, 'gateway-2')).toBe(oldSha);
    expect(runningSha(dir, 'worker')).toBe(oldSha);
  });

  it('stops before touching anything when gateway-2 runs without ADMIN_READ_TOKEN: never falls back to ADMIN_TOKEN', async () => {
    const oldSha = sha();
    const dir = gatewayHost(['nodes=node-a', 'read-token.gateway-2=unset'], oldSha);
    const r = await rollGateway(dir, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ADMIN_READ_TOKEN is not set in gateway-2');
    expect(r.stderr).toContain('never uses ADMIN_TOKEN');
    expect(r.log.some((l) => l.includes('--force-recreate'))).toBe(false);
    for (const service of ['gateway-1', 'gateway-2', 'worker']) expect(runningSha(dir, service)).toBe(oldSha);
  });

  it('stops before touching anything when gateway-2 refuses its read-only token (a release before the role)', async () => {
    const oldSha = sha();
    const dir = gatewayHost(['nodes=node-a', 'read-token.gateway-2=refused'], oldSha);
    const r = await rollGateway(dir, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gateway-2 refused its own ADMIN_READ_TOKEN');
    expect(r.log.some((l) => l.includes('--force-recreate'))).toBe(false);
    expect(runningSha(dir, 'gateway-1')).toBe(oldSha);
  });

  it('stops at once when the new gateway-1 has no read-only token (rather than waiting out the nodes’ timeout); gateway-2 is untouched', async () => {
    const oldSha = sha();
    const dir = gatewayHost(['nodes=node-a', 'read-token.gateway-1.new=unset'], oldSha);
    const started = Date.now();
    const r = await rollGateway(dir, sha(), 60);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stderr).toContain('ADMIN_READ_TOKEN is not set in gateway-1');
    expect(r.log.some((l) => l.includes('--force-recreate gateway-2'))).toBe(false);
    expect(runningSha(dir, 'gateway-2')).toBe(oldSha);
  });

  it('refuses to go on when the new gateway-1 runs another build than the one asked for', async () => {
    const oldSha = sha();
    const dir = gatewayHost([`image-sha=${sha()}`], oldSha);
    const r = await rollGateway(dir, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/gateway-1 runs git sha '[0-9a-f]{40}', expected '[0-9a-f]{40}'/);
    expect(runningSha(dir, 'gateway-2')).toBe(oldSha);
  });
});

describe('roll-gateway.sh’s node list, run as it runs inside a gateway’s container', () => {
  // The script roll-gateway.sh hands `node -e` in each container, taken from the file as shipped.
  const listNodes = /^list_nodes='([\s\S]*?)'$/m.exec(readFileSync(join(DEPLOY, 'roll-gateway.sh'), 'utf8'))?.[1] ?? '';
  let asked: { url: string; authorization: string | undefined }[];
  let answer: number;
  let listener: Server;
  let port: number;

  beforeEach(async () => {
    asked = [];
    answer = 200;
    listener = createServer((req, res) => {
      asked.push({ url: req.url ?? '', authorization: req.headers.authorization });
      res
        .writeHead(answer, { 'content-type': 'application/json' })
        .end(JSON.stringify({ nodes: [{ nodeId: 'node-b' }, { nodeId: 'node-a' }] }));
    });
    await new Promise<void>((listening) => listener.listen(0, '127.0.0.1', listening));
    port = (listener.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await new Promise((closed) => listener.close(closed));
  });

  function inContainer(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((done) => {
      const child = spawn(process.execPath, ['-e', listNodes], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    });
  }

  it('asks the admin listener (ADMIN_PORT, all addresses read as loopback) with the read-only token, and prints the node ids', async () => {
    const r = await inContainer({
      ADMIN_READ_TOKEN: READ_TOKEN,
      ADMIN_TOKEN: 'the-admin-token-it-must-not-use',
      ADMIN_HOST: '0.0.0.0',
      ADMIN_PORT: String(port),
      HOST: '0.0.0.0',
      PORT: '1',
    });
    expect(r).toEqual({ code: 0, stdout: 'node-b\nnode-a\n', stderr: '' });
    expect(asked).toEqual([{ url: '/admin/nodes', authorization: `Bearer ${READ_TOKEN}` }]);
  });

  it('without ADMIN_PORT, asks the main port (the admin plane is served there)', async () => {
    const r = await inContainer({ ADMIN_READ_TOKEN: READ_TOKEN, PORT: String(port) });
    expect(r.code).toBe(0);
    expect(asked).toEqual([{ url: '/admin/nodes', authorization: `Bearer ${READ_TOKEN}` }]);
  });

  it('without ADMIN_READ_TOKEN it asks nothing and exits 3, saying so, even with ADMIN_TOKEN set', async () => {
    const r = await inContainer({ ADMIN_TOKEN: READ_TOKEN, ADMIN_PORT: String(port) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ADMIN_READ_TOKEN is not set');
    expect(asked).toEqual([]);
  });

  it('a refused token exits 4, any other answer 1', async () => {
    answer = 401;
    expect((await inContainer({ ADMIN_READ_TOKEN: READ_TOKEN, ADMIN_PORT: String(port) })).code).toBe(4);
    answer = 503;
    expect((await inContainer({ ADMIN_READ_TOKEN: READ_TOKEN, ADMIN_PORT: String(port) })).code).toBe(1);
  });
});

/** A host's files as the roll-out found them: .env and the fake containers' state. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = { '.env': readFileSync(join(dir, '.env'), 'utf8') };
  for (const service of ['node-agent', 'gateway-1', 'gateway-2', 'worker']) {
    if (existsSync(join(dir, '.fake', service))) files[service] = readFileSync(join(dir, '.fake', service), 'utf8');
  }
  return files;
}

const otherComponent = (c: Component): Component => (c === 'gateway' ? 'node-agent' : 'gateway');

/**
 * What must stop a roll-out before any host is touched: each case puts the tag in the registry (or not) and signs its
 * digest (or not) as it says, for the component being rolled out; `reason` is what the log must say.
 */
const refusals: {
  name: string;
  prepare: (component: Component, image: string, tag: string) => void;
  reason: string;
}[] = [
  { name: 'an unsigned image', prepare: (_c, image, tag) => void publish(image, tag), reason: 'no signatures found' },
  // These two say our repository in the certificate's repository extension (which cosign checks first, see the case
  // of another one below), so that the identity expression alone must refuse them.
  {
    name: 'an image signed by another repository’s release workflow',
    prepare: (c, image, tag) =>
      sign(publish(image, tag), identity(`release-${c}.yml`, 'refs/heads/main', 'mallory/switch.yard'), ISSUER, [
        `repository=${SIGNER}`,
      ]),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'a look-alike repository (the dot in the name is no wildcard)',
    prepare: (c, image, tag) =>
      sign(publish(image, tag), identity(`release-${c}.yml`, 'refs/heads/main', 'Acme-Labs/switchXyard'), ISSUER, [
        `repository=${SIGNER}`,
      ]),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'this repository’s release workflow run on a branch other than main',
    prepare: (c, image, tag) => sign(publish(image, tag), identity(`release-${c}.yml`, 'refs/heads/feature')),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'a branch whose name merely starts with main',
    prepare: (c, image, tag) => sign(publish(image, tag), identity(`release-${c}.yml`, 'refs/heads/main-next')),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'the other component’s release workflow',
    prepare: (c, image, tag) => sign(publish(image, tag), identity(`release-${otherComponent(c)}.yml`)),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'its release workflow run for the other component’s release tag',
    prepare: (c, image, tag) =>
      sign(publish(image, tag), identity(`release-${c}.yml`, `refs/tags/${otherComponent(c)}-v1.2.3`)),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'the right identity from another OIDC issuer',
    prepare: (c, image, tag) => sign(publish(image, tag), identity(`release-${c}.yml`), 'https://accounts.example.com'),
    reason: 'none of the expected identities matched',
  },
  {
    name: 'a certificate whose GitHub workflow repository is another one',
    prepare: (c, image, tag) =>
      sign(publish(image, tag), identity(`release-${c}.yml`), ISSUER, ['repository=mallory/app']),
    reason: 'expected GitHub Workflow Repository not found in certificate',
  },
  {
    // Our own release workflow signed that digest, on main, but for another commit: the sha- tag was moved to it.
    name: 'a sha- tag moved to the digest of another commit’s release',
    prepare: (c, image, tag) => void publish(image, tag, release(c, `sha-${sha()}`)),
    reason: 'expected GitHub Workflow SHA not found in certificate',
  },
  {
    name: 'an attestation by its release workflow (SLSA provenance), which is no signature',
    prepare: (c, image, tag) =>
      sign(publish(image, tag), identity(`release-${c}.yml`), ISSUER, ['type=https://slsa.dev/provenance/v1']),
    reason: "not an image signature: cosign verified a payload of type 'https://slsa.dev/provenance/v1'",
  },
  {
    name: 'a signed payload that names another digest than the tag’s',
    prepare: (c, image, tag) =>
      sign(publish(image, tag), identity(`release-${c}.yml`), ISSUER, [`payload-digest=${newDigest()}`]),
    reason: 'digest mismatch',
  },
  { name: 'a tag that does not exist', prepare: () => undefined, reason: 'the tag was not found in the registry' },
];

/** The release tags a release workflow signs from: accepted like main. */
const releaseTags = (c: Component) => [`refs/tags/${c}-v1.2.3`, `refs/tags/${c}-v2.0.0-rc.1`];

describe('roll-fleet.sh deploys only a verified digest', () => {
  const twoNodes = () =>
    fleet([
      { id: 'node-a', host: 'host-a' },
      { id: 'node-b', host: 'host-b' },
    ]);

  it.each(refusals)(
    'stops before the first node for $name, saying why; no host is contacted and every node is as it was',
    async ({ prepare, reason }) => {
      const f = await twoNodes();
      const before = f.nodes.map((n) => snapshot(n.dir));
      const newSha = sha();
      prepare('node-agent', NODE_IMAGE, `sha-${newSha}`);
      const r = await rollFleet(f, newSha, {}, { publish: false });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`[verify-image] REFUSED ${NODE_IMAGE}:sha-${newSha}: `);
      expect(r.stderr).toContain(reason);
      expect(r.stderr).toContain('the roll-out stopped before the first node, no node was touched');
      // Only the registry and cosign were asked: no tunnel, no SSH, no docker on any host.
      expect(hostCalls(r.log)).toEqual([]);
      expect(
        r.log.every((l) => l.startsWith('docker buildx imagetools inspect ') || l.startsWith('cosign verify ')),
      ).toBe(true);
      expect(f.nodes.map((n) => snapshot(n.dir))).toEqual(before);
      const summary = readFileSync(stepSummary, 'utf8');
      expect(summary).toContain(reason);
      expect(summary).toContain('no node was touched');
    },
  );

  it.each(releaseTags('node-agent'))(
    'accepts a digest signed by its release workflow for the release tag %s',
    async (ref) => {
      const f = await twoNodes();
      const newSha = sha();
      const digest = release('node-agent', `sha-${newSha}`, ref);
      const r = await rollFleet(f, newSha);
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 0,
        stderr: expect.stringContaining(`all 2 node(s) run git sha ${newSha}`) as unknown,
      });
      for (const node of f.nodes)
        expect(readFileSync(join(node.dir, '.env'), 'utf8')).toContain(`\nNODE_AGENT_TAG=sha-${newSha}@${digest}\n`);
    },
  );

  it('asks cosign for the exact signer: this repository’s release-node-agent.yml on main or a release tag, GitHub’s issuer, this repository, the tag’s commit', async () => {
    const f = await twoNodes();
    const newSha = sha();
    const digest = release('node-agent', `sha-${newSha}`);
    const r = await rollFleet(f, newSha);
    expect(r.code).toBe(0);
    const identityRegexp = String.raw`^https://github\.com/Acme-Labs/switch\.yard/\.github/workflows/release-node-agent\.yml@refs/(heads/main|tags/node-agent-v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?([+][0-9A-Za-z.-]+)?)$`;
    expect(r.log.filter((l) => l.startsWith('cosign '))).toEqual([
      `cosign verify ${NODE_IMAGE}@${digest} identity-regexp=${identityRegexp} issuer=${ISSUER} repository=${SIGNER} workflow-sha=${newSha}`,
    ]);
    // The step summary names what was verified and rolled.
    expect(readFileSync(stepSummary, 'utf8')).toContain(`Verified: \`${NODE_IMAGE}@${digest}\``);
  });

  it('resolves and verifies once, at the start: every node gets that same digest, the registry is not asked again per node', async () => {
    const f = await twoNodes();
    const newSha = sha();
    const digest = release('node-agent', `sha-${newSha}`);
    const r = await rollFleet(f, newSha);
    expect(r.code).toBe(0);
    expect(r.log.filter((l) => l.startsWith('docker buildx ') || l.startsWith('cosign '))).toHaveLength(2);
    for (const node of f.nodes)
      expect(readFileSync(join(node.dir, '.env'), 'utf8')).toMatch(
        new RegExp(`^NODE_AGENT_TAG=sha-${newSha}@${digest}$`, 'm'),
      );
  });

  it('needs IMAGE and SIGNER_REPOSITORY, and asks nothing of anyone without them', async () => {
    const f = await twoNodes();
    for (const missing of ['IMAGE', 'SIGNER_REPOSITORY']) {
      writeFileSync(fakeLog, '');
      const r = await rollFleet(f, sha(), { [missing]: '' });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`set ${missing}`);
      expect(r.log).toEqual([]);
    }
  });

  // Only where no real cosign is installed: the runner's PATH is this one with the stand-ins first.
  const systemCosign = spawnSync('sh', ['-c', 'command -v cosign']).status === 0;
  (systemCosign ? it.skip : it)('without cosign it refuses, saying so, and touches nothing', async () => {
    const f = await twoNodes();
    rmSync(join(fakeBin, 'cosign'));
    const r = await rollFleet(f, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cosign is not installed here, so the image cannot be verified');
    expect(r.log).toEqual([]);
  });

  it('a tag that is not a tag (an attempt to pass a digest or options through) is refused before anything is asked', async () => {
    const f = await twoNodes();
    const r = await rollFleet(f, sha(), { IMAGE_TAG: '--help' }, { publish: false });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("'--help' is not an image tag");
    expect(r.log).toEqual([]);
  });
});

describe('deploy-gateway.sh: the gateway host, by verified digest only', () => {
  const deployGateway = (
    dir: string,
    newSha: string,
    env: Record<string, string> = {},
    { publish: push = true } = {},
  ) => {
    const tag = env.IMAGE_TAG ?? `sha-${newSha}`;
    if (push && !published(GATEWAY_IMAGE, tag)) release('gateway', tag);
    return run('deploy-gateway.sh', [], {
      GATEWAY_SSH_HOST: 'deploy@gw',
      GATEWAY_DIR: dir,
      IMAGE: GATEWAY_IMAGE,
      IMAGE_TAG: tag,
      SIGNER_REPOSITORY: SIGNER,
      SSH_KEY_FILE: keyFile,
      SSH_KNOWN_HOSTS_FILE: knownHosts,
      ROLL_HEALTH_TIMEOUT: '5',
      ROLL_NODES_TIMEOUT: '30',
      ROLL_POLL_INTERVAL: '0.05',
      ROLL_SETTLE_SECONDS: '0',
      ...env,
    });
  };

  it('verifies the image here, then rolls tag@digest on the gateway host: every service runs it, .env pins it', async () => {
    const dir = gatewayHost(['nodes=node-a'], sha());
    const newSha = sha();
    const digest = release('gateway', `sha-${newSha}`);
    const r = await deployGateway(dir, newSha);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining(`done: the gateway host runs ${GATEWAY_IMAGE}@${digest}`) as unknown,
    });
    const identityRegexp = String.raw`^https://github\.com/Acme-Labs/switch\.yard/\.github/workflows/release-gateway\.yml@refs/(heads/main|tags/gateway-v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?([+][0-9A-Za-z.-]+)?)$`;
    expect(r.log.slice(0, 3)).toEqual([
      `docker buildx imagetools inspect ${GATEWAY_IMAGE}:sha-${newSha}`,
      `cosign verify ${GATEWAY_IMAGE}@${digest} identity-regexp=${identityRegexp} issuer=${ISSUER} repository=${SIGNER} workflow-sha=${newSha}`,
      `ssh dest=deploy@gw port=22 key=${keyFile} strict=yes known=${knownHosts}`,
    ]);
    expect(readFileSync(join(dir, '.env'), 'utf8').match(/^GATEWAY_TAG=.*$/gm)).toEqual([
      `GATEWAY_TAG=sha-${newSha}@${digest}`,
    ]);
    // The git sha comes from the tag, digest or not: each new container was checked against it.
    expect(r.stderr).toContain(`gateway-1 runs git sha ${newSha}`);
    for (const service of ['gateway-1', 'gateway-2', 'worker']) expect(runningSha(dir, service)).toBe(newSha);
    expect(readFileSync(stepSummary, 'utf8')).toContain(`run \`${GATEWAY_IMAGE}@${digest}\``);
  });

  it('still refuses a container that runs another build than the tag names', async () => {
    const oldSha = sha();
    const dir = gatewayHost([`image-sha=${sha()}`], oldSha);
    const r = await deployGateway(dir, sha());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/gateway-1 runs git sha '[0-9a-f]{40}', expected '[0-9a-f]{40}'/);
    expect(runningSha(dir, 'gateway-2')).toBe(oldSha);
  });

  it.each(releaseTags('gateway'))(
    'accepts a digest signed by its release workflow for the release tag %s',
    async (ref) => {
      const dir = gatewayHost([], sha());
      const newSha = sha();
      const digest = release('gateway', `sha-${newSha}`, ref);
      const r = await deployGateway(dir, newSha);
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 0,
        stderr: expect.stringContaining('done: the gateway host runs') as unknown,
      });
      expect(readFileSync(join(dir, '.env'), 'utf8')).toContain(`GATEWAY_TAG=sha-${newSha}@${digest}\n`);
    },
  );

  it.each(refusals)(
    'stops before the gateway host for $name, saying why: no SSH, nothing replaced',
    async ({ prepare, reason }) => {
      const oldSha = sha();
      const dir = gatewayHost(['nodes=node-a'], oldSha);
      const before = snapshot(dir);
      const newSha = sha();
      prepare('gateway', GATEWAY_IMAGE, `sha-${newSha}`);
      const r = await deployGateway(dir, newSha, {}, { publish: false });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`[verify-image] REFUSED ${GATEWAY_IMAGE}:sha-${newSha}: `);
      expect(r.stderr).toContain(reason);
      expect(r.stderr).toContain('the gateway host was not contacted, nothing was touched');
      expect(hostCalls(r.log)).toEqual([]);
      expect(snapshot(dir)).toEqual(before);
      expect(readFileSync(stepSummary, 'utf8')).toContain(reason);
    },
  );

  it('checks its settings before asking anything: a missing SIGNER_REPOSITORY, a relative GATEWAY_DIR', async () => {
    const dir = gatewayHost([], sha());
    for (const env of [{ SIGNER_REPOSITORY: '' }, { GATEWAY_DIR: 'opt/switchyard' }, { IMAGE: '' }] as Record<
      string,
      string
    >[]) {
      writeFileSync(fakeLog, '');
      const r = await deployGateway(dir, sha(), env);
      expect({ env, code: r.code === 0 ? 0 : 'failed' }).toEqual({ env, code: 'failed' });
      expect(r.log).toEqual([]);
    }
  });
});

describe('verify-image.sh: the commit a sha- tag names, and image signatures only', () => {
  const imageOf = (c: Component) => (c === 'gateway' ? GATEWAY_IMAGE : NODE_IMAGE);
  const verify = (c: Component, tag: string) =>
    run('verify-image.sh', [imageOf(c), tag, c], { SIGNER_REPOSITORY: SIGNER });
  const cosignCall = (r: Run) => r.log.find((l) => l.startsWith('cosign verify ')) ?? '';

  it('for a sha-<commit> tag, accepts only a signature from a run on that commit', async () => {
    const commit = sha();
    const digest = release('gateway', `sha-${commit}`);
    const r = await verify('gateway', `sha-${commit}`);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${GATEWAY_IMAGE}@${digest}\n` });
    expect(cosignCall(r)).toMatch(new RegExp(` workflow-sha=${commit}$`));
    expect(r.stderr).toContain(`run on commit ${commit}`);
  });

  it('refuses a sha-A tag moved to the digest released for commit B, naming A, though that digest passes under its own tag', async () => {
    const [a, b] = [sha(), sha()];
    const digest = release('node-agent', `sha-${b}`);
    publish(NODE_IMAGE, `sha-${a}`, digest);
    const moved = await verify('node-agent', `sha-${a}`);
    expect({ code: moved.code, stdout: moved.stdout }).toEqual({ code: 1, stdout: '' });
    expect(cosignCall(moved)).toMatch(new RegExp(` workflow-sha=${a}$`));
    expect(moved.stderr).toContain(
      `[verify-image] REFUSED ${NODE_IMAGE}:sha-${a}: not signed by release-node-agent.yml of ${SIGNER}`,
    );
    expect(moved.stderr).toContain(
      `run on commit ${a} (unsigned, or signed by another identity, or built from another commit (a sha- tag moved to another build))`,
    );
    expect(moved.stderr).toContain('expected GitHub Workflow SHA not found in certificate');
    expect((await verify('node-agent', `sha-${b}`)).stdout).toBe(`${NODE_IMAGE}@${digest}\n`);
  });

  it.each(['latest', '1.2.3'])(
    'a tag that names no commit (%s) is verified without --certificate-github-workflow-sha',
    async (tag) => {
      // The same release as its sha- tag: the tags the release workflow pushes on main point to one digest.
      const digest = release('node-agent', `sha-${sha()}`);
      publish(NODE_IMAGE, tag, digest);
      const r = await verify('node-agent', tag);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${NODE_IMAGE}@${digest}\n` });
      expect(cosignCall(r)).toMatch(/ repository=\S+$/);
      expect(cosignCall(r)).not.toContain('workflow-sha');
      expect(r.stderr).not.toContain('run on commit');
    },
  );

  it.each([
    ['cosign 3 (its bundle’s statement type)', 'https://sigstore.dev/cosign/sign/v1'],
    ['cosign 2 (simple signing)', 'cosign container image signature'],
  ])('accepts an image signature made by %s', async (_by, type) => {
    const commit = sha();
    const digest = publish(GATEWAY_IMAGE, `sha-${commit}`);
    sign(digest, identity('release-gateway.yml'), ISSUER, [`type=${type}`]);
    const r = await verify('gateway', `sha-${commit}`);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${GATEWAY_IMAGE}@${digest}\n` });
  });

  it.each([
    'https://slsa.dev/provenance/v1',
    'https://spdx.dev/Document',
    'https://cosign.sigstore.dev/attestation/v1',
  ])('refuses a verified payload of type %s: an attestation by the same signer is no signature', async (type) => {
    const commit = sha();
    sign(publish(GATEWAY_IMAGE, `sha-${commit}`), identity('release-gateway.yml'), ISSUER, [`type=${type}`]);
    const r = await verify('gateway', `sha-${commit}`);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toContain(
      `[verify-image] REFUSED ${GATEWAY_IMAGE}:sha-${commit}: not an image signature: cosign verified a payload of type '${type}'`,
    );
    expect(readFileSync(stepSummary, 'utf8')).toContain(`'${type}'`);
  });

  it('refuses when any verified payload is an attestation, even beside a signature', async () => {
    const commit = sha();
    const digest = release('node-agent', `sha-${commit}`);
    sign(digest, identity('release-node-agent.yml'), ISSUER, ['type=https://slsa.dev/provenance/v1']);
    const r = await verify('node-agent', `sha-${commit}`);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toContain("cosign verified a payload of type 'https://slsa.dev/provenance/v1'");
  });
});

describe('roll-node.sh and roll-gateway.sh by hand', () => {
  const byHand = (host: string, script: string, dir: string, tag: string, gitSha: string) =>
    run('ssh-run.sh', [`deploy@${host}`, join(DEPLOY, script), dir, tag, gitSha], {
      SSH_KEY_FILE: keyFile,
      SSH_KNOWN_HOSTS_FILE: knownHosts,
      REMOTE_ENV: 'ROLL_HEALTH_TIMEOUT=5 ROLL_POLL_INTERVAL=0.05 ROLL_SETTLE_SECONDS=0',
    });

  it('roll-node.sh takes a bare tag as well as tag@sha256:<digest>', async () => {
    const f = await fleet([{ id: 'node-a', host: 'host-a' }]);
    const dir = f.nodes[0]!.dir;
    const bare = sha();
    expect((await byHand('host-a', 'roll-node.sh', dir, `sha-${bare}`, bare)).code).toBe(0);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toContain(`\nNODE_AGENT_TAG=sha-${bare}\n`);
    const pinnedSha = sha();
    const digest = newDigest();
    const r = await byHand('host-a', 'roll-node.sh', dir, `sha-${pinnedSha}@${digest}`, pinnedSha);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`gitSha=${pinnedSha}\n`);
    expect(readFileSync(join(dir, '.env'), 'utf8').match(/^NODE_AGENT_TAG=.*$/gm)).toEqual([
      `NODE_AGENT_TAG=sha-${pinnedSha}@${digest}`,
    ]);
  });

  it.each([
    ['roll-node.sh', 'a short digest', (t: string) => `${t}@sha256:abc`],
    ['roll-node.sh', 'another algorithm', (t: string) => `${t}@sha512:${'a'.repeat(64)}`],
    ['roll-gateway.sh', 'a digest alone', () => newDigest()],
    ['roll-gateway.sh', 'two digests', (t: string) => `${t}@${newDigest()}@${newDigest()}`],
  ])('%s refuses %s before touching anything', async (script, _what, tagOf) => {
    const oldSha = sha();
    const dir =
      script === 'roll-node.sh'
        ? (await fleet([{ id: 'node-a', host: 'host-a', oldSha }])).nodes[0]!.dir
        : gatewayHost([], oldSha);
    const before = snapshot(dir);
    const newSha = sha();
    const r = await byHand(script === 'roll-node.sh' ? 'host-a' : 'gw', script, dir, tagOf(`sha-${newSha}`), newSha);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not an image tag, nor tag@sha256:<digest>');
    expect(r.log.filter((l) => l.startsWith('docker '))).toEqual([]);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('README’s signature check', () => {
  // The command README's "Update the fleet" gives for checking a release by hand, with <owner>/<repo> as placeholders.
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const command = /^cosign verify [\s\S]*?[^\\]\n/m.exec(readme)?.[0].replace(/\\\n\s*/g, ' ') ?? '';
  const option = (name: string) =>
    new RegExp(`--${name}[ =]('([^']*)'|(\\S+))`)
      .exec(command)
      ?.slice(2)
      .find((v) => v !== undefined);

  it('verifies by digest with the identity, issuer, repository and commit verify-image.sh demands, for either component', async () => {
    // The digest of a sha-<sha> tag, as README's inspect line resolves it.
    expect(readme).toContain('docker buildx imagetools inspect ghcr.io/<owner>/switchyard-node-agent:sha-<sha>');
    expect(command).toMatch(/^cosign verify ghcr\.io\/<owner>\/switchyard-node-agent@sha256:<digest> /);
    // Exactly the checks the script asks cosign for, no more, no fewer.
    expect(command.match(/--[a-z-]+/g)).toEqual([
      '--certificate-identity-regexp',
      '--certificate-oidc-issuer',
      '--certificate-github-workflow-repository',
      '--certificate-github-workflow-sha',
    ]);
    expect(option('certificate-oidc-issuer')).toBe(ISSUER);
    expect(option('certificate-github-workflow-repository')).toBe('<owner>/<repo>');
    // The commit the sha-<sha> tag names.
    expect(option('certificate-github-workflow-sha')).toBe('<sha>');
    const documented = option('certificate-identity-regexp');
    expect(documented).toBeDefined();
    for (const component of ['node-agent', 'gateway'] as const) {
      writeFileSync(fakeLog, '');
      const image = component === 'gateway' ? GATEWAY_IMAGE : NODE_IMAGE;
      const commit = sha();
      const digest = release(component, `sha-${commit}`);
      const r = await run('verify-image.sh', [image, `sha-${commit}`, component], { SIGNER_REPOSITORY: SIGNER });
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `${image}@${digest}\n` });
      const used = /identity-regexp=(\S+) issuer=(\S+) repository=(\S+) workflow-sha=(\S+)$/.exec(
        r.log.find((l) => l.startsWith('cosign verify ')) ?? '',
      );
      // README's expression, for this repository (a dot in a name written \. as README says) and this component.
      const ours = documented!
        .replace('<owner>/<repo>', SIGNER.replace(/\./g, '\\.'))
        .replace(/node-agent/g, component);
      expect(used?.slice(1)).toEqual([ours, ISSUER, SIGNER, commit]);
    }
  });

  it('says the check needs cosign 3 or later (the releases sign in its bundle format)', () => {
    expect(readme).toMatch(/cosign 3 or later/);
  });
});
