// The README's operator sections ("Run the stack", "Add a node", "Update the fleet") checked against the files
// they name: every compose service, profile, script, Dockerfile, entrypoint, variable, secret and workflow a
// command or table mentions must exist where the section says it does, so the README cannot drift from them.
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseCompose, parseEnvExample, readRepoFile, REPO_ROOT, type ComposeFile } from './compose-env.js';

const README = readRepoFile('README.md');

/** The text of a `## title` section, up to the next `## ` heading (its `###` subsections included). */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  const next = README.indexOf('\n## ', start + 1);
  return README.slice(start, next < 0 ? undefined : next);
}

/** The fenced `sh` blocks of a section, one logical line per command (backslash continuations joined, comments kept apart). */
function shellLines(text: string): { command: string; comment: string }[] {
  const lines: { command: string; comment: string }[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      const hash = line.startsWith('#') ? 0 : line.search(/\s#\s/);
      lines.push(
        hash < 0
          ? { command: line, comment: '' }
          : { command: line.slice(0, hash).trim(), comment: line.slice(hash).replace(/^\s*#\s*/, '') },
      );
    }
  }
  return lines;
}

/** `docker compose [--profile p] <sub> [flags] [service]`: the profile, subcommand and service named. */
function composeCalls(
  lines: { command: string }[],
): { profile?: string; sub: string; service?: string; line: string }[] {
  const calls: { profile?: string; sub: string; service?: string; line: string }[] = [];
  for (const { command } of lines) {
    const m = /^docker compose\s+(.*)$/.exec(command);
    if (!m) continue;
    const words = m[1]!.split(/\s+/);
    let profile: string | undefined;
    if (words[0] === '--profile') {
      profile = words[1];
      words.splice(0, 2);
    }
    const sub = words.shift()!;
    const service = words.find((w) => !w.startsWith('-'));
    calls.push({
      ...(profile === undefined ? {} : { profile }),
      sub,
      ...(service === undefined ? {} : { service }),
      line: command,
    });
  }
  return calls;
}

/** Paths of the form gateway/dist/x.js or node-agent/dist/x.js named in the text. */
function distEntrypoints(text: string): string[] {
  return [...new Set([...text.matchAll(/\b((?:gateway|node-agent)\/dist\/[\w/-]+\.js)\b/g)].map((m) => m[1]!))];
}

/** Variables assigned in `NAME=…` form in the section's commands and comments (build arguments are not variables). */
function assignedVariables(lines: { command: string; comment: string }[]): string[] {
  const names = new Set<string>();
  for (const { command, comment } of lines)
    for (const m of `${command} ${comment}`.matchAll(/(?<!--build-arg )\b([A-Z][A-Z0-9_]{2,})=/g)) names.add(m[1]!);
  return [...names];
}

function services(file: ComposeFile): string[] {
  return Object.keys(file.services);
}

const stack = parseCompose(readRepoFile('docker-compose.yml'));
const nodeHost = parseCompose(readRepoFile('node-agent/docker-compose.yml'));

describe('README "Run the stack"', () => {
  const text = section('Run the stack');
  const lines = shellLines(text);

  it('names only services of docker-compose.yml, and runs the login the node image has', () => {
    const calls = composeCalls(lines);
    expect(calls.map((c) => c.sub)).toEqual(expect.arrayContaining(['run', 'pull', 'up', 'ps']));
    for (const call of calls)
      if (call.service !== undefined && call.sub !== 'up') expect(services(stack)).toContain(call.service);
    const login = calls.find((c) => c.sub === 'run');
    expect(login?.line).toContain('node node-agent/dist/login-main.js');
    expect(stack.services[login!.service!]?.build?.dockerfile).toBe('node-agent/Dockerfile');
  });

  it('copies the .env.example that exists, and every variable it tells the operator to set is documented there', () => {
    expect(lines.some((l) => l.command.startsWith('cp .env.example .env'))).toBe(true);
    const example = parseEnvExample(readRepoFile('.env.example'));
    const named = [...text.matchAll(/`([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`/g)]
      .map((m) => m[1]!)
      .concat(assignedVariables(lines));
    const missing = [...new Set(named)].filter((v) => !example.entries.has(v) && !example.fixed.has(v));
    expect(missing).toEqual([]);
  });

  it('the published port it curls is the edge port of the compose file', () => {
    expect(lines.some((l) => l.command.includes('curl -s localhost:8080/health'))).toBe(true);
    expect(stack.services.edge?.ports?.map(String)[0]).toBe('${GATEWAY_PORT:-8080}:8080');
  });

  it('enrols the local node with the CLI before it can dial in, and names no shared node secret', () => {
    expect(lines.some((l) => /^switchyard nodes add \S+/.test(l.command))).toBe(true);
    expect(text).toContain('NODE_TOKEN');
    expect(text).not.toMatch(/NODE_SHARED_SECRET|NODE_PUBLIC_URL/);
  });

  it('every entrypoint and health check it names is built from a source file, and every file it names exists', () => {
    for (const entry of distEntrypoints(text)) {
      const source = entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts');
      expect({ entry, exists: existsSync(join(REPO_ROOT, source)) }).toEqual({ entry, exists: true });
    }
    for (const m of text.matchAll(/docker build -f (\S+)/g)) expect(existsSync(join(REPO_ROOT, m[1]!))).toBe(true);
    for (const path of ['deploy/Caddyfile', 'test/deploy/images.int.test.ts']) {
      expect(text).toContain(path);
      expect(existsSync(join(REPO_ROOT, path))).toBe(true);
    }
  });
});

describe('README "Add a node"', () => {
  const text = section('Add a node');
  const lines = shellLines(text);

  it('uses node-agent/docker-compose.yml and node-agent/.env.example, and only their services and profiles', () => {
    expect(text).toContain('node-agent/docker-compose.yml');
    expect(text).toContain('node-agent/.env.example');
    const calls = composeCalls(lines);
    expect(calls.map((c) => c.sub)).toContain('up');
    for (const call of calls) {
      if (call.service !== undefined && call.sub !== 'up') expect(services(nodeHost)).toContain(call.service);
      if (call.profile !== undefined)
        expect(Object.values(nodeHost.services).some((svc) => svc.profiles?.includes(call.profile!) === true)).toBe(
          true,
        );
    }
    expect(calls.some((c) => c.profile === 'autoupdate')).toBe(true);
  });

  it('every variable it tells the operator to set is in node-agent/.env.example', () => {
    const example = parseEnvExample(readRepoFile('node-agent/.env.example'));
    const named = [...text.matchAll(/`([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`/g)]
      .map((m) => m[1]!)
      .concat(assignedVariables(lines));
    // ADMIN_TOKEN is the gateway's, and SWITCHYARD_* the CLI's: used from the operator's shell to enrol the node and look at the fleet.
    const operators = new Set(['ADMIN_TOKEN', 'SWITCHYARD_URL', 'SWITCHYARD_ADMIN_TOKEN']);
    const missing = [...new Set(named)].filter(
      (v) => !operators.has(v) && !example.entries.has(v) && !example.fixed.has(v),
    );
    expect(missing).toEqual([]);
  });

  it('adds a node in three steps: enrol it on the gateway, the three lines in .env, `docker compose up -d`', () => {
    expect(lines.some((l) => /^switchyard nodes add \S+/.test(l.command))).toBe(true);
    for (const variable of ['GATEWAY_URL', 'NODE_ID', 'NODE_TOKEN']) expect(text).toContain(variable);
    expect(lines.some((l) => l.command === 'docker compose up -d')).toBe(true);
  });

  it('asks a node host for nothing of the fleet’s: no Redis, no shared secret, no inbound port', () => {
    expect(text).not.toMatch(/REDIS_URL|UPSTASH_|NODE_SHARED_SECRET|NODE_PUBLIC_URL/);
  });

  it('checks the node joined (GET /admin/nodes or `switchyard nodes list`), and logs in, if at all, with the entrypoint the node image has', () => {
    expect(lines.some((l) => /curl .*\/admin\/nodes|^switchyard nodes list\b/.test(l.command))).toBe(true);
    for (const entry of distEntrypoints(text)) expect(entry).toBe('node-agent/dist/login-main.js');
    expect(existsSync(join(REPO_ROOT, 'node-agent/src/login-main.ts'))).toBe(true);
  });
});

describe('README "Update the fleet"', () => {
  const text = section('Update the fleet');
  const lines = shellLines(text);
  const workflowDir = join(REPO_ROOT, '.github/workflows');
  const workflows = readdirSync(workflowDir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => ({ file: f, text: readRepoFile(`.github/workflows/${f}`) }))
    .map((w) => ({ ...w, doc: parse(w.text) as { name?: string } }));

  it('its workflow table names the workflows by their real names', () => {
    const tableNames = [...text.matchAll(/^\| `([a-z][a-z -]+)` \|/gm)].map((m) => m[1]!);
    expect(tableNames).toEqual(['ci', 'release gateway', 'release node-agent', 'deploy gateway', 'deploy fleet']);
    expect(tableNames.sort()).toEqual(workflows.map((w) => w.doc.name).sort());
  });

  it('every repository secret it lists is read by a workflow, and every secret a deploy workflow reads is listed', () => {
    const listed = [...text.matchAll(/^\s*\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThanOrEqual(6);
    const read = new Set(
      workflows.flatMap((w) => [...w.text.matchAll(/secrets\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!)),
    );
    for (const secret of listed)
      expect({ secret, readByAWorkflow: read.has(secret) }).toEqual({ secret, readByAWorkflow: true });
    // GITHUB_TOKEN is no repository secret: GitHub gives every run its own (the deploy jobs read packages with it).
    const deployRead = new Set(
      workflows
        .filter((w) => w.file.startsWith('deploy-'))
        .flatMap((w) => [...w.text.matchAll(/secrets\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!))
        .filter((secret) => secret !== 'GITHUB_TOKEN'),
    );
    for (const secret of deployRead)
      expect({ secret, listed: listed.includes(secret) }).toEqual({ secret, listed: true });
  });

  it('the scripts it runs exist, are executable, and read the variables the commands set', () => {
    const scripts = [...text.matchAll(/\b(deploy\/[\w-]+\.sh)\b/g)].map((m) => m[1]!);
    expect(new Set(scripts)).toEqual(
      new Set([
        'deploy/verify-image.sh',
        'deploy/roll-fleet.sh',
        'deploy/deploy-gateway.sh',
        'deploy/roll-node.sh',
        'deploy/roll-gateway.sh',
        'deploy/ssh-run.sh',
        'deploy/wait-node-version.sh',
        'deploy/smoke.sh',
      ]),
    );
    for (const script of new Set(scripts)) accessSync(join(REPO_ROOT, script), constants.X_OK);
    const byHand = lines.filter((l) => /bash deploy\//.test(l.command));
    expect(byHand).toHaveLength(2);
    for (const { command } of byHand) {
      const scriptNames = [...command.matchAll(/\b(deploy\/[\w-]+\.sh)\b/g)].map((m) => m[1]!);
      const bodies = scriptNames.map((s) => readRepoFile(s)).join('\n');
      for (const m of command.matchAll(/\b([A-Z][A-Z0-9_]{2,})=/g))
        expect({ variable: m[1], read: bodies.includes(m[1]!) }).toEqual({ variable: m[1], read: true });
    }
  });

  it('the optional repository variables it names are read by the deploy workflows', () => {
    const deployText = workflows
      .filter((w) => w.file.startsWith('deploy-'))
      .map((w) => w.text)
      .join('\n');
    const sentence = /Optional repository variables:([\s\S]*?)\. The node/.exec(text);
    const named = [...(sentence?.[0] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThanOrEqual(2);
    for (const v of named)
      expect({ variable: v, read: deployText.includes(`vars.${v}`) }).toEqual({ variable: v, read: true });
  });
});
