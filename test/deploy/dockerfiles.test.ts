// The two Dockerfiles' shape, as an operator relies on it: multi-stage with production dependencies only in
// the runtime, a pinned Node major, a non-root user, tini forwarding SIGTERM to `node` itself, a health
// check that runs a script the build produces, OCI labels carrying version and git sha, the ports the
// processes take connections on (none for the node, which dials out), and writable data directories.
// images.int.test.ts runs what they describe.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayConfigSchema } from '../../gateway/src/config.js';
import { WorkerConfigSchema } from '../../gateway/src/usage-worker/config.js';
import { NodeConfigSchema } from '../../node-agent/src/config.js';
import { dockerignore } from './build-without-docker.js';
import {
  durationMs,
  execForm,
  healthcheck,
  instructions,
  keyValues,
  lastInstruction,
  parseDockerfile,
  splitFlags,
  type Stage,
} from './dockerfile.js';

const ROOT = process.cwd();

interface ImageSpec {
  dockerfile: string;
  workspace: 'gateway' | 'node-agent';
  cmd: string[];
  healthcheck: string[];
  /** What EXPOSE lists: the ports other hosts or containers connect to. */
  ports: number[];
  /** Directories the process writes, from ENV: created in the image and owned by its user. */
  dataDirs: Record<string, string>;
}

const IMAGES: ImageSpec[] = [
  {
    dockerfile: 'gateway/Dockerfile',
    workspace: 'gateway',
    cmd: ['node', 'gateway/dist/main.js'],
    healthcheck: ['node', 'gateway/dist/healthcheck.js', '/health'],
    ports: [GatewayConfigSchema.shape.PORT.parse(undefined), WorkerConfigSchema.shape.METRICS_PORT.parse(undefined)],
    dataDirs: { USAGE_SPOOL_DIR: '/data/usage-spool' },
  },
  {
    dockerfile: 'node-agent/Dockerfile',
    workspace: 'node-agent',
    cmd: ['node', 'node-agent/dist/main.js'],
    healthcheck: ['node', 'node-agent/dist/healthcheck.js'],
    // The node dials out to the gateway; its own listener (/health, /metrics) binds loopback by default.
    ports: [],
    dataDirs: { CREDENTIALS_DIR: '/data/credentials' },
  },
];

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const runtimeOf = (stages: Stage[]) => stages.at(-1)!;
/** ENV and LABEL values of a stage, raw (before substitution). */
const pairs = (stage: Stage, keyword: string) =>
  Object.fromEntries(instructions(stage, keyword).flatMap((i) => keyValues(i.args)));
/** The dist script a `node <script>` command runs, as the TypeScript source it is compiled from. */
const sourceOf = (script: string) => script.replace('/dist/', '/src/').replace(/\.js$/, '.ts');

describe.each(IMAGES)('$dockerfile', (spec) => {
  const stages = parseDockerfile(read(spec.dockerfile));
  const runtime = runtimeOf(stages);
  const names = stages.map((s) => s.name);

  it('builds in one stage and runs from another, which takes only compiled code from the build', () => {
    expect(names).toEqual(['base', 'build', 'runtime']);
    expect(runtime.from).toBe('base');
    const fromBuild = instructions(runtime, 'COPY').filter((c) => splitFlags(c.args).flags.from === 'build');
    expect(fromBuild.map((c) => splitFlags(c.args).rest.split(' ')[0])).toEqual([
      '/app/shared/dist',
      `/app/${spec.workspace}/dist`,
    ]);
    const installs = instructions(runtime, 'RUN').map((r) => splitFlags(r.args).rest);
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(new RegExp(`^npm ci --omit=dev --workspace ${spec.workspace} `));
  });

  it('stands on Node 20 (its major in the tag), pinned by digest', () => {
    for (const stage of stages.filter((s) => !names.includes(s.from)))
      expect(stage.from).toMatch(/^node:20-bookworm-slim@sha256:[0-9a-f]{64}$/);
  });

  it('runs as the unprivileged node user, under tini, with node itself as the process', () => {
    expect(lastInstruction(runtime, 'USER')?.args).toBe('node');
    expect(execForm(lastInstruction(runtime, 'ENTRYPOINT')?.args ?? '')).toEqual(['/usr/bin/tini', '--']);
    expect(execForm(lastInstruction(runtime, 'CMD')?.args ?? '')).toEqual(spec.cmd);
    expect(existsSync(join(ROOT, sourceOf(spec.cmd[1]!)))).toBe(true);
    const base = stages[0]!;
    expect(
      instructions(base, 'RUN')
        .map((r) => r.args)
        .join('\n'),
    ).toMatch(/apt-get install -y --no-install-recommends tini\b/);
  });

  it('never starts through npm', () => {
    const text = read(spec.dockerfile)
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n');
    expect(text).not.toMatch(/npm (start|run)\b/);
  });

  it('checks its health with a script the build compiles, with a timeout shorter than the interval', () => {
    const check = healthcheck(lastInstruction(runtime, 'HEALTHCHECK')?.args ?? '');
    expect(check.command).toEqual(spec.healthcheck);
    expect(existsSync(join(ROOT, sourceOf(spec.healthcheck[1]!)))).toBe(true);
    expect(durationMs(check.options.timeout ?? '30s')).toBeLessThan(durationMs(check.options.interval ?? '30s'));
  });

  it('labels the image with title, description, source, and the version and git sha it was built from', () => {
    const args = Object.fromEntries(instructions(runtime, 'ARG').flatMap((i) => keyValues(i.args)));
    expect(Object.keys(args)).toEqual(expect.arrayContaining(['VERSION', 'GIT_SHA']));
    const labels = pairs(runtime, 'LABEL');
    expect(labels).toMatchObject({
      'org.opencontainers.image.title': `switchyard-${spec.workspace}`,
      'org.opencontainers.image.version': '$VERSION',
      'org.opencontainers.image.revision': '$GIT_SHA',
      'org.opencontainers.image.source': '$SOURCE',
    });
    expect(labels['org.opencontainers.image.description']).toMatch(/\w/);
  });

  it('runs in production mode and reports the git sha it was built from', () => {
    expect(pairs(runtime, 'ENV')).toMatchObject({ NODE_ENV: 'production', GIT_SHA: '$GIT_SHA' });
  });

  it('exposes the ports its processes take connections on by default, and no other', () => {
    const exposed = instructions(runtime, 'EXPOSE').flatMap((e) => e.args.split(' ').map(Number));
    expect(exposed.sort()).toEqual([...spec.ports].sort());
  });

  it('creates the directories the process writes, owned by its user', () => {
    const env = pairs(runtime, 'ENV');
    const setup = instructions(stages[0]!, 'RUN')
      .map((r) => r.args)
      .join('\n');
    for (const [variable, dir] of Object.entries(spec.dataDirs)) {
      expect(env[variable]).toBe(dir);
      expect(setup).toContain(`mkdir -p ${dir}`);
      expect(setup).toContain('chown -R node:node /data');
    }
  });
});

it('the node image exposes nothing: its listener binds loopback unless HOST says otherwise, and the health check probes it there', () => {
  expect(NodeConfigSchema.shape.HOST.parse(undefined)).toBe('127.0.0.1');
  expect(read('node-agent/src/healthcheck.ts')).toMatch(/host: config\.HOST, port: config\.PORT/);
});

it('both Dockerfiles share one build stage, so a release builds it once (and the images test too)', () => {
  const [gateway, node] = IMAGES.map((spec) => parseDockerfile(read(spec.dockerfile)).find((s) => s.name === 'build'));
  const text = (stage: Stage | undefined) => stage?.instructions.map((i) => `${i.keyword} ${i.args}`);
  expect(text(node)).toEqual(text(gateway));
  // The compiled output is the image's code as it comes: nothing is deleted after the build (test support lives
  // in testkit/, which no production package's build includes).
  expect(text(gateway)?.at(-1)).toBe('RUN npx tsc -b gateway node-agent');
  expect(text(gateway)?.filter((i) => /\brm\b/.test(i))).toEqual([]);
  // Plain JavaScript comes out: compiled once on the builder's platform, not once per architecture under emulation.
  expect([gateway?.platform, node?.platform]).toEqual(['$BUILDPLATFORM', '$BUILDPLATFORM']);
});

it('every npm ci sees the manifest of every workspace (npm ci refuses a lockfile whose workspace it cannot read)', () => {
  const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
  for (const spec of IMAGES) {
    for (const stage of parseDockerfile(read(spec.dockerfile)).filter((s) => s.name !== 'base')) {
      const all = stage.instructions.map((i) => `${i.keyword} ${i.args}`);
      const install = all.findIndex((i) => /^RUN .*\bnpm ci\b/.test(i));
      const manifests = all
        .slice(0, install)
        .filter((i) => i.startsWith('COPY '))
        .flatMap((i) => i.split(' ').slice(1, -1))
        .filter((src) => src.endsWith('/package.json'));
      expect({ stage: stage.name, manifests: manifests.sort() }).toEqual({
        stage: stage.name,
        manifests: workspaces.map((w) => `${w}/package.json`).sort(),
      });
    }
  }
});

describe('the build context (.dockerignore)', () => {
  const ignored = dockerignore(read('.dockerignore'));
  const contextSources = IMAGES.flatMap((spec) =>
    parseDockerfile(read(spec.dockerfile)).flatMap((stage) =>
      instructions(stage, 'COPY')
        .map((c) => splitFlags(c.args))
        .filter((c) => c.flags.from === undefined)
        .flatMap((c) => c.rest.split(' ').slice(0, -1)),
    ),
  );

  it('keeps every path the Dockerfiles copy, and every file under them', () => {
    expect(contextSources.filter((src) => ignored(src) || !existsSync(join(ROOT, src)))).toEqual([]);
    const underSources = [
      'node-agent/src/credentials/login.ts',
      'gateway/src/usage-worker/main.ts',
      'gateway/public/dashboard/index.html',
      'shared/src/fleet/index.ts',
    ];
    expect(underSources.filter((f) => ignored(f))).toEqual([]);
  });

  it('leaves out dependencies, build output, local secrets and state', () => {
    const left = [
      'node_modules/zod/package.json',
      'gateway/node_modules/x',
      'shared/dist/index.js',
      '.env',
      'node-agent/.env',
      'credentials/node-1.json',
      'data/usage-spool/spool.jsonl',
      '.git/HEAD',
    ];
    expect(left.filter((f) => !ignored(f))).toEqual([]);
    expect(ignored('.env.example')).toBe(false);
  });
});
