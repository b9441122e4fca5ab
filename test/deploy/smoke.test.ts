// deploy/smoke.sh, the script CI's `images` job runs on a Docker host (no Docker engine here), checked for what
// can be checked without one: the job runs it with nothing but contents: read; every file it names exists; its
// test-only compose overrides are valid on top of the real files (Debian's docker-compose v1, where installed),
// add the fake Anthropic upstream, point both nodes at it, introduce no third-party image and hold no secret;
// the env file it writes for the stack publishes every port on 127.0.0.1; its test image stands on the
// production base image; and its argument and tool checks, run for real with stand-ins for docker, curl and jq
// on a PATH of their own, refuse what they should with a usage line. smoke.int.test.ts runs its waits and checks
// against real HTTP servers and the fake upstream, and the test image's build.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { interpolate, interpolations, parseCompose, readRepoFile, REPO_ROOT, type ComposeFile } from './compose-env.js';
import { dockerignore } from './build-without-docker.js';
import { execForm, instructions, lastInstruction, parseDockerfile, splitFlags } from './dockerfile.js';

const SCRIPT = 'deploy/smoke.sh';
const script = readRepoFile(SCRIPT);
const STACK_OVERRIDE = 'deploy/smoke/stack.override.yml';
const NODE_OVERRIDE = 'deploy/smoke/node.override.yml';
const stackOverride = parseCompose(readRepoFile(STACK_OVERRIDE));
const nodeOverride = parseCompose(readRepoFile(NODE_OVERRIDE));
/** The script's lines without comments (what bash runs). */
const code = script
  .split('\n')
  .filter((line) => !line.trimStart().startsWith('#'))
  .join('\n');
/** A `readonly name='value'` of the script. */
const constant = (name: string) => new RegExp(`^readonly ${name}='?([^'\\n]*)'?$`, 'm').exec(script)?.[1];

interface Job {
  name?: string;
  'runs-on'?: string;
  'timeout-minutes'?: number;
  permissions?: Record<string, string>;
  needs?: unknown;
  steps?: { uses?: string; run?: string; with?: Record<string, unknown> }[];
}
const ci = parse(readRepoFile('.github/workflows/ci.yml')) as {
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
};

describe('the CI job (ci.yml, images)', () => {
  const job = ci.jobs.images;

  it('runs deploy/smoke.sh on a GitHub runner (which has Docker), after checking out and setting up buildx', () => {
    expect(job?.name).toBe('images and the stack under Docker');
    expect(job?.['runs-on']).toBe('ubuntu-latest');
    expect(job?.['timeout-minutes']).toBeGreaterThanOrEqual(20);
    expect(job?.['timeout-minutes']).toBeLessThanOrEqual(45);
    const steps = job?.steps ?? [];
    expect(steps.map((s) => s.uses?.split('@')[0] ?? s.run)).toEqual([
      'actions/checkout',
      // The builder's image, read from .github/ci/compose.yml (pinned there) for setup-buildx.
      expect.stringContaining('bash .github/ci/pinned-image.sh'),
      'docker/setup-buildx-action',
      'bash deploy/smoke.sh',
      // Then the one pinned image the smoke does not start, so its digest is proven to exist too.
      expect.stringContaining('docker pull "${image%%:*}@${image#*@}"'),
    ]);
    expect(steps[0]?.with).toEqual({ 'persist-credentials': false });
  });

  it('reads the repository and nothing more: no permission of its own, no secret, no token', () => {
    expect(ci.permissions).toEqual({ contents: 'read' });
    expect(job?.permissions ?? { contents: 'read' }).toEqual({ contents: 'read' });
    expect(JSON.stringify(job)).not.toMatch(/secrets\.|GITHUB_TOKEN|github\.token/);
  });
});

describe('the files deploy/smoke.sh uses', () => {
  it('all exist: every checkout path it names', () => {
    const named = [...new Set([...code.matchAll(/\$repo\/([\w./-]+)/g)].map((m) => m[1]!))];
    expect(named).toEqual(
      expect.arrayContaining(['docker-compose.yml', 'node-agent/docker-compose.yml', STACK_OVERRIDE, NODE_OVERRIDE]),
    );
    // The Dockerfiles it builds are named in a list, relative to the checkout.
    const built = [...code.matchAll(/"([\w/-]+Dockerfile) \$/g)].map((m) => m[1]!);
    expect(built).toEqual(['gateway/Dockerfile', 'node-agent/Dockerfile', 'deploy/smoke/Dockerfile']);
    for (const file of [...named, ...built, 'deploy/smoke/sdk-request.mjs'])
      expect({ file, exists: existsSync(join(REPO_ROOT, file)) }).toEqual({ file, exists: true });
  });

  it('is a bash script that stops at the first failure, and runs main only when executed (a test can source it)', () => {
    expect(script.split('\n')[0]).toBe('#!/usr/bin/env bash');
    expect(code).toMatch(/^set -euo pipefail$/m);
    expect(code.trimEnd().split('\n').slice(-3)).toEqual([
      'if [[ ${BASH_SOURCE[0]} == "$0" ]]; then',
      '  main "$@"',
      'fi',
    ]);
    // Everything it makes goes in an EXIT trap, also on failure.
    expect(code).toMatch(/^\s*trap cleanup EXIT$/m);
  });

  it('builds with buildx --load, and never lets compose build or pull the images it built', () => {
    expect(code).toContain('docker buildx build --load');
    for (const up of code.match(/compose_(gw|node) up [^\n]*/g) ?? []) expect(up).toContain('--no-build');
  });

  it('never prints a secret: they go to curl as header files and to containers as env files', () => {
    // The tokens and the key reach curl only through -H @file, never on a command line.
    expect(code).not.toMatch(/-H ["']?(authorization|x-api-key):/i);
    // The variables that hold one (make_admin_secrets' admin and read, add_env's value) only go to files.
    const touching = code
      .split('\n')
      .filter((line) => /\$\{?#?(admin|read|value)\b|head -n 1 "\$(tmp\/client\.key|3)"/.test(line));
    expect(touching.length).toBeGreaterThanOrEqual(5);
    for (const line of touching)
      expect({
        line,
        safe:
          /^\s*(\[\[ |value=\$\(head -n 1 "\$3"\)$)/.test(line) ||
          /^\s*printf .*>>?"\$(tmp\/[\w.-]+|file)"$/.test(line),
      }).toEqual({ line, safe: true });
    // Nothing traces commands.
    expect(code).not.toMatch(/set -[a-z]*x|set -o xtrace/);
  });
});

describe('the test-only compose overrides', () => {
  const fake = stackOverride.services['fake-anthropic'];

  it('add the fake upstream to the stack, from the test image the script builds, and nothing third-party', () => {
    expect(Object.keys(stackOverride.services).sort()).toEqual(['edge', 'fake-anthropic', 'node-agent']);
    expect(Object.keys(nodeOverride.services)).toEqual(['node-agent']);
    expect(fake?.image).toMatch(/^\$\{SMOKE_FAKE_IMAGE:\?[^}]+\}$/);
    expect(code).toContain('SMOKE_FAKE_IMAGE=$fake_image');
    // No other image anywhere in them: the stack keeps its own (and the edge, the node keep theirs).
    const images = [stackOverride, nodeOverride].flatMap((f) =>
      Object.values(f.services)
        .map((s) => s.image)
        .filter(Boolean),
    );
    expect(images).toEqual([fake?.image]);
    expect(fake?.command?.slice(0, 5)).toEqual([
      'node',
      '--conditions=source',
      '--import',
      'tsx',
      'testkit/src/fake-anthropic/cli.ts',
    ]);
    expect(existsSync(join(REPO_ROOT, fake?.command?.[4] ?? 'missing'))).toBe(true);
  });

  it('point both nodes’ ANTHROPIC_BASE_URL at the fake, on a network each shares with it', () => {
    const port = fake?.command?.[fake.command.indexOf('--port') + 1];
    expect(port).toBe('4010');
    expect(fake?.command?.[fake.command.indexOf('--host') + 1]).toBe('0.0.0.0');
    for (const file of [stackOverride, nodeOverride])
      expect(file.services['node-agent']?.environment).toEqual({ ANTHROPIC_BASE_URL: `http://fake-anthropic:${port}` });
    // The stack's node is on `nodes` (docker-compose.yml), the remote one on the run's network.
    expect(fake?.networks).toEqual(['nodes', 'smoke']);
    expect(nodeOverride.services['node-agent']?.networks).toEqual(['default', 'smoke']);
    expect(stackOverride.services.edge?.networks).toEqual(['smoke']);
    // The gateway's project creates the network under the run's name; the node's project joins it.
    expect(stackOverride.networks).toEqual({
      smoke: { name: expect.stringMatching(/^\$\{SMOKE_NETWORK:\?/) as unknown },
    });
    expect(nodeOverride.networks).toEqual({
      smoke: { external: true, name: expect.stringMatching(/^\$\{SMOKE_NETWORK:\?/) as unknown },
    });
  });

  it('pace the fake so a stream lasts long enough to stop a replica in it, and answer the text the script checks', () => {
    const args = fake?.command ?? [];
    const option = (name: string) => args[args.indexOf(name) + 1];
    const text = option('--response-text');
    expect(text).toBe(constant('reply_text'));
    // One character per delta: the stream takes (characters x interval), well past DRAIN_NOTICE_MS (5 s).
    expect(Number(option('--text-deltas'))).toBeGreaterThanOrEqual(text!.length);
    expect(text!.length * Number(option('--delta-interval-ms'))).toBeGreaterThanOrEqual(15_000);
    // One API-key account per node.
    expect([option('--accounts'), option('--api-key-accounts')]).toEqual(['0', '2']);
    expect([fake?.healthcheck?.test ?? []].flat().join(' ')).toContain(`127.0.0.1:${option('--port')}`);
  });

  it('hold no secret: every credential comes from the run’s env files', () => {
    for (const [file, text] of [STACK_OVERRIDE, NODE_OVERRIDE].map((f) => [f, readRepoFile(f)] as const)) {
      const parsed = parseCompose(text);
      for (const [name, svc] of Object.entries(parsed.services)) {
        for (const [key, value] of Object.entries(svc.environment ?? {})) {
          if (/TOKEN|KEY|SECRET|PASS/.test(key))
            expect({ file, name, key, literal: interpolations(value).length === 0 }).toEqual({
              file,
              name,
              key,
              literal: false,
            });
        }
      }
      expect({ file, secretLooking: /sk-ant-|syn-|Bearer /.test(text) }).toEqual({ file, secretLooking: false });
    }
  });
});

describe('deploy/smoke/Dockerfile (the test-only image)', () => {
  const stages = parseDockerfile(readRepoFile('deploy/smoke/Dockerfile'));
  const stage = stages[0]!;

  it('stands on the production images’ base (node:20-bookworm-slim) and runs as node', () => {
    expect(stages).toHaveLength(1);
    const production = parseDockerfile(readRepoFile('gateway/Dockerfile')).find((s) => s.name === 'build')!;
    const repoTag = (from: string) => from.split('@')[0];
    expect(repoTag(stage.from)).toBe('node:20-bookworm-slim');
    expect(repoTag(stage.from)).toBe(repoTag(production.from));
    expect(lastInstruction(stage, 'USER')?.args).toBe('node');
  });

  it('installs the lockfile as the production build stage does, and copies the fake’s source and the SDK script', () => {
    const production = parseDockerfile(readRepoFile('gateway/Dockerfile')).find((s) => s.name === 'build')!;
    const upToInstall = (s: typeof stage) => {
      const all = s.instructions.map((i) => `${i.keyword} ${i.args}`);
      return all.slice(0, all.findIndex((i) => i.startsWith('RUN ')) + 1);
    };
    expect(upToInstall(stage)).toEqual(upToInstall(production));
    const sources = instructions(stage, 'COPY').flatMap((c) => splitFlags(c.args).rest.split(' ').slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['shared/src', 'testkit/src', 'deploy/smoke/sdk-request.mjs']));
    const ignored = dockerignore(readRepoFile('.dockerignore'));
    expect(sources.filter((src) => ignored(src) || !existsSync(join(REPO_ROOT, src)))).toEqual([]);
    expect(execForm(lastInstruction(stage, 'CMD')?.args ?? '')?.slice(0, 5)).toEqual(
      stackOverride.services['fake-anthropic']?.command?.slice(0, 5),
    );
  });

  it('is what the script builds and the override runs', () => {
    expect(code).toContain('"deploy/smoke/Dockerfile $fake_image -"');
    expect(code).toMatch(/"\$fake_image" node deploy\/smoke\/sdk-request\.mjs/);
  });
});

// ---- Running the script's parts: bash, with stand-ins on a PATH of their own. ----

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sy-smoke-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Stand-ins for the preflight: `docker` plays `compose version`, `buildx version` and `info` as FAKE_DOCKER_* say. */
const STANDINS: Record<string, string> = {
  docker: `#!/usr/bin/env bash
# Stand-in for docker (test/deploy/smoke.test.ts): what deploy/smoke.sh's preflight asks. FAKE_DOCKER_COMPOSE=v2
# (default), v1 or none; FAKE_DOCKER_BUILDX=none; FAKE_DOCKER_ENGINE=down.
set -euo pipefail
case "\${1:-} \${2:-}" in
  "compose version")
    case \${FAKE_DOCKER_COMPOSE:-v2} in
      none)
        echo "docker: unknown command: docker compose" >&2
        exit 1
        ;;
      v1) echo 1.29.2 ;;
      *) echo 2.29.7 ;;
    esac
    ;;
  "buildx version")
    if [ "\${FAKE_DOCKER_BUILDX:-}" = none ]; then
      echo "docker: unknown command: docker buildx" >&2
      exit 1
    fi
    echo "github.com/docker/buildx v0.17.1"
    ;;
  "info "*)
    if [ "\${FAKE_DOCKER_ENGINE:-}" = down ]; then
      echo "Cannot connect to the Docker daemon" >&2
      exit 1
    fi
    ;;
  *)
    echo "fake docker: $* is not played" >&2
    exit 1
    ;;
esac
`,
  curl: `#!/usr/bin/env bash
# Stand-in for curl (test/deploy/smoke.test.ts): the preflight only looks for it.
echo "fake curl: not played" >&2
exit 1
`,
  jq: `#!/usr/bin/env bash
# Stand-in for jq (test/deploy/smoke.test.ts): the preflight only looks for it.
echo "fake jq: not played" >&2
exit 1
`,
};

/** A directory for PATH holding bash and what the script needs before its preflight, plus the named stand-ins. */
function sandboxPath(name: string, standIns: string[]): string {
  const bin = join(work, name);
  mkdirSync(bin);
  for (const tool of ['bash', 'dirname']) {
    const real = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(real, join(bin, tool));
  }
  for (const tool of standIns) {
    writeFileSync(join(bin, tool), STANDINS[tool]!);
    chmodSync(join(bin, tool), 0o755);
  }
  return bin;
}

const BASH = spawnSync('bash', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();

function smoke(args: string[], path: string, env: Record<string, string> = {}) {
  const result = spawnSync(BASH, [join(REPO_ROOT, SCRIPT), ...args], {
    encoding: 'utf8',
    env: { PATH: path, HOME: work, ...env },
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Sources the script and runs a bash snippet after it (main does not run). */
function sourced(snippet: string, path: string, env: Record<string, string> = {}) {
  const result = spawnSync(BASH, ['-c', `source "$SMOKE_SH"\n${snippet}`], {
    encoding: 'utf8',
    env: { PATH: path, HOME: work, SMOKE_SH: join(REPO_ROOT, SCRIPT), ...env },
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const USAGE_LINE = /^usage: deploy\/smoke\.sh \[--keep\] \[--project-prefix NAME\] \[--timeout SECONDS\]/m;

describe('its arguments', () => {
  let path: string;
  beforeAll(() => {
    path = sandboxPath('bin-args', ['docker', 'curl', 'jq']);
  });

  it.each([
    [['--bogus'], 'unknown argument: --bogus'],
    [['build'], 'unknown argument: build'],
    [['--timeout'], '--timeout needs a value'],
    [['--timeout', 'soon'], "--timeout: a whole number of seconds: 'soon'"],
    [['--timeout=0'], "--timeout: a whole number of seconds: '0'"],
    [
      ['--project-prefix', 'Smoke'],
      "--project-prefix: 1 to 40 lower-case letters and digits, single - or _ between them: 'Smoke'",
    ],
    [['--project-prefix=-x'], "single - or _ between them: '-x'"],
    // It starts image names (SWITCHYARD_REGISTRY), whose components may not end in a separator.
    [['--project-prefix', 'smoke-'], "single - or _ between them: 'smoke-'"],
    [['--project-prefix', 'a'.repeat(41)], '--project-prefix: 1 to 40'],
  ])('%j: refused with exit 2, the reason and the usage line, before anything runs', (args, reason) => {
    const run = smoke(args, path, { FAKE_DOCKER_ENGINE: 'down' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(reason);
    expect(run.stderr).toMatch(USAGE_LINE);
    // Refused before the preflight: the engine (down here) was never asked.
    expect(run.stderr).not.toContain('Docker engine');
    expect(run.stdout).toBe('');
  });

  it('a bad SMOKE_POLL_INTERVAL is refused the same way', () => {
    const run = smoke([], path, { SMOKE_POLL_INTERVAL: 'fast' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("SMOKE_POLL_INTERVAL: a number of seconds: 'fast'");
  });

  it('--help prints the usage and the options, and exits 0', () => {
    const run = smoke(['--help'], path);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(USAGE_LINE);
    for (const option of ['--keep', '--project-prefix NAME', '--timeout SECONDS']) expect(run.stdout).toContain(option);
  });

  it('takes --keep, --project-prefix and --timeout in both spellings', () => {
    const run = sourced(
      'parse_args --keep --project-prefix ci_run-2 --timeout=90; echo "$keep $prefix $timeout"',
      path,
    );
    expect(run).toMatchObject({ code: 0, stdout: 'true ci_run-2 90\n' });
    expect(sourced('parse_args; echo "$keep $prefix $timeout $poll_interval"', path)).toMatchObject({
      code: 0,
      stdout: 'false switchyard-smoke 300 1\n',
    });
  });
});

describe('its tool checks', () => {
  it('names every tool missing from PATH, with the usage line', () => {
    const run = smoke([], sandboxPath('bin-none', []));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('needs docker curl jq on PATH');
    expect(run.stderr).toMatch(USAGE_LINE);
  });

  it('names curl and jq when only docker is there', () => {
    const run = smoke([], sandboxPath('bin-docker', ['docker']));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('needs curl jq on PATH');
  });

  describe('with docker, curl and jq on PATH', () => {
    let path: string;
    beforeAll(() => {
      path = sandboxPath('bin-all', ['docker', 'curl', 'jq']);
    });

    it.each([
      [{ FAKE_DOCKER_COMPOSE: 'none' }, "needs the Docker Compose v2 plugin ('docker compose'"],
      [{ FAKE_DOCKER_COMPOSE: 'v1' }, "needs Docker Compose v2 or later ('docker compose version' says 1.29.2)"],
      [{ FAKE_DOCKER_BUILDX: 'none' }, 'needs docker buildx'],
      [{ FAKE_DOCKER_ENGINE: 'down' }, "cannot reach the Docker engine ('docker info' failed)"],
    ])('%j: stops with what is missing and the usage line', (env, reason) => {
      const run = smoke([], path, env);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(reason);
      expect(run.stderr).toMatch(USAGE_LINE);
    });

    it('passes when everything is there (sourced: main, which would build, does not run)', () => {
      expect(sourced('parse_args; require_tools; echo ready', path)).toMatchObject({
        code: 0,
        stdout: 'ready\n',
        stderr: '',
      });
    });
  });
});

describe('what it writes for the stack and the node', () => {
  let dir: string;
  let path: string;
  beforeAll(() => {
    dir = join(work, 'run');
    mkdirSync(dir);
    path = `${sandboxPath('bin-env', [])}:${process.env.PATH ?? '/usr/bin:/bin'}`;
    const run = sourced(
      `tmp=$RUN_DIR; run_id=0123abcd; git_sha=${'a'.repeat(40)}; network=switchyard-smoke-0123abcd-net; fake_image=switchyard-smoke/fake-anthropic:0123abcd
make_admin_secrets; write_stack_env; write_node_env`,
      path,
      { RUN_DIR: dir },
    );
    expect(run).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  const envFile = (name: string) =>
    Object.fromEntries(
      readFileSync(join(dir, name), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );

  it('makes two different 64-hex admin tokens, in files only its user can read, and prints nothing', () => {
    const env = envFile('stack.env');
    expect(env.ADMIN_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(env.ADMIN_READ_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(env.ADMIN_TOKEN).not.toBe(env.ADMIN_READ_TOKEN);
    expect(readFileSync(join(dir, 'admin.header'), 'utf8')).toBe(`authorization: Bearer ${env.ADMIN_TOKEN}\n`);
    expect(readFileSync(join(dir, 'read.header'), 'utf8')).toBe(`authorization: Bearer ${env.ADMIN_READ_TOKEN}\n`);
    for (const file of ['secrets.env', 'stack.env', 'node.env', 'admin.header', 'read.header'])
      expect({ file, mode: (statSync(join(dir, file)).mode & 0o777).toString(8) }).toEqual({ file, mode: '600' });
  });

  it('publishes every port of the stack on 127.0.0.1, on ports Docker picks, and names this run’s images and network', () => {
    const env = envFile('stack.env');
    expect(env).toMatchObject({
      GATEWAY_PORT: '127.0.0.1:0',
      HTTPS_PORT: '127.0.0.1:0',
      ADMIN_HOST_PORT: '0',
      ADMIN_HOST_PORT_2: '0',
      REDIS_HOST_PORT: '0',
      SWITCHYARD_REGISTRY: 'switchyard-smoke',
      GATEWAY_TAG: '0123abcd',
      NODE_AGENT_TAG: '0123abcd',
      SMOKE_NETWORK: 'switchyard-smoke-0123abcd-net',
      SMOKE_FAKE_IMAGE: 'switchyard-smoke/fake-anthropic:0123abcd',
    });
    // Every published port of the stack, resolved with this env file, binds loopback.
    const stack = parseCompose(readRepoFile('docker-compose.yml'));
    const published = Object.entries(stack.services).flatMap(([name, s]) =>
      (s.ports ?? []).map((p) => ({ name, mapping: interpolate(p, env) })),
    );
    expect(published.length).toBeGreaterThanOrEqual(5);
    for (const { name, mapping } of published)
      expect({ name, mapping }).toEqual({ name, mapping: expect.stringMatching(/^127\.0\.0\.1:0:\d+$/) as unknown });
    // The images compose runs are the ones the script tags.
    expect(interpolate(stack.services['gateway-1']?.image ?? '', env)).toBe(
      'switchyard-smoke/switchyard-gateway:0123abcd',
    );
    expect(interpolate(stack.services['node-agent']?.image ?? '', env)).toBe(
      'switchyard-smoke/switchyard-node-agent:0123abcd',
    );
    expect(code).toContain('gateway_image=$prefix/switchyard-gateway:$run_id');
    expect(code).toContain('node_image=$prefix/switchyard-node-agent:$run_id');
  });

  it('gives the remote node the edge on the run’s network, plain HTTP allowed explicitly (not a loopback or private address)', () => {
    expect(envFile('node.env')).toMatchObject({
      GATEWAY_URL: 'http://edge:8080',
      GATEWAY_ALLOW_HTTP: 'true',
      NODE_ID: 'node-remote',
      NODE_AGENT_TAG: '0123abcd',
      SMOKE_NETWORK: 'switchyard-smoke-0123abcd-net',
    });
    // The edge's public site listens on 8080 in its container (deploy/Caddyfile's http_port and SITE_ADDRESS).
    expect(readRepoFile('deploy/Caddyfile')).toMatch(/^\s*http_port 8080$/m);
  });

  it('unsets, for compose, every variable the compose files read, so only the env files set them', () => {
    const run = sourced(
      'interpolated_vars "$repo/docker-compose.yml" "$repo/node-agent/docker-compose.yml" "$repo/deploy/smoke/stack.override.yml" "$repo/deploy/smoke/node.override.yml"',
      path,
    );
    const vars = run.stdout.trim().split('\n');
    expect(vars).toEqual(
      expect.arrayContaining([
        'ADMIN_TOKEN',
        'GATEWAY_PORT',
        'NODE_TOKEN',
        'GATEWAY_URL',
        'SMOKE_NETWORK',
        'SMOKE_FAKE_IMAGE',
        'ANTHROPIC_API_KEY',
      ]),
    );
    const leaked = sourced(
      'compose_vars=(GATEWAY_PORT NODE_TOKEN); compose_env bash -c \'echo "${GATEWAY_PORT-unset} ${NODE_TOKEN-unset} ${COMPOSE_PROFILES-unset} $KEEP"\'',
      path,
      { GATEWAY_PORT: '80', NODE_TOKEN: 'from-the-shell', COMPOSE_PROFILES: 'autoupdate', KEEP: 'kept' },
    );
    expect(leaked).toMatchObject({ code: 0, stdout: 'unset unset unset kept\n' });
  });

  // Debian's docker-compose is v1 (1.29), which predates the top-level `name:`: dropped here, as compose.test.ts does.
  const composeV1 = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
  if (composeV1.status !== 0)
    console.warn(
      'docker-compose checks SKIPPED: docker-compose not found (on Debian/Ubuntu: apt-get install -y docker-compose)',
    );

  function config(base: string, override: string, projectDir: string, envFile: string) {
    const stripped = join(work, `${base.replace(/\W/g, '-')}.yml`);
    writeFileSync(stripped, readRepoFile(base).replace(/^name: .*\n/m, ''));
    const args = [
      '-f',
      stripped,
      '-f',
      join(REPO_ROOT, override),
      '--project-directory',
      join(REPO_ROOT, projectDir),
      '--env-file',
      envFile,
      'config',
    ];
    const result = spawnSync('docker-compose', args, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work },
    });
    return { ...result, resolved: result.status === 0 ? parseCompose(result.stdout) : undefined };
  }

  (composeV1.status === 0 ? it : it.skip)(
    'the stack with its override and the script’s env file is valid: the fake added, the edge on loopback and the run’s network',
    () => {
      const env = join(work, 'stack-config.env');
      writeFileSync(
        env,
        `${readFileSync(join(dir, 'stack.env'), 'utf8')}NODE_TOKEN=placeholder\nANTHROPIC_API_KEY=placeholder\n`,
      );
      const { status, stderr, resolved } = config('docker-compose.yml', STACK_OVERRIDE, '.', env);
      expect(stderr).not.toMatch(/ERROR/);
      expect(status).toBe(0);
      const services = (resolved as ComposeFile).services;
      expect(Object.keys(services).sort()).toEqual([
        'edge',
        'fake-anthropic',
        'gateway-1',
        'gateway-2',
        'node-agent',
        'redis',
        'worker',
      ]);
      expect(Object.keys(services.edge?.networks ?? {}).sort()).toEqual(['default', 'nodes', 'smoke']);
      expect(services.edge?.ports).toEqual(['127.0.0.1:0:8080/tcp', '127.0.0.1:0:8443/tcp']);
      expect(services['node-agent']?.environment).toMatchObject({
        ANTHROPIC_BASE_URL: 'http://fake-anthropic:4010',
        GATEWAY_URL: 'http://edge:8081',
        NODE_TOKEN: 'placeholder',
      });
      expect(services['fake-anthropic']?.image).toBe('switchyard-smoke/fake-anthropic:0123abcd');
      expect((resolved as ComposeFile).networks).toMatchObject({ smoke: { name: 'switchyard-smoke-0123abcd-net' } });
    },
  );

  (composeV1.status === 0 ? it : it.skip)(
    'the remote node with its override and the script’s env file is valid: it joins the run’s network and dials the edge there',
    () => {
      const env = join(work, 'node-config.env');
      writeFileSync(
        env,
        `${readFileSync(join(dir, 'node.env'), 'utf8')}NODE_TOKEN=placeholder\nANTHROPIC_API_KEY=placeholder\n`,
      );
      const { status, stderr, resolved } = config('node-agent/docker-compose.yml', NODE_OVERRIDE, 'node-agent', env);
      expect(stderr).not.toMatch(/ERROR/);
      expect(status).toBe(0);
      const node = (resolved as ComposeFile).services['node-agent'];
      expect(node?.environment).toMatchObject({
        ANTHROPIC_BASE_URL: 'http://fake-anthropic:4010',
        GATEWAY_URL: 'http://edge:8080',
        GATEWAY_ALLOW_HTTP: 'true',
        NODE_ID: 'node-remote',
      });
      expect(Object.keys(node?.networks ?? {}).sort()).toEqual(['default', 'smoke']);
      expect((resolved as ComposeFile).networks).toEqual({
        smoke: { external: true, name: 'switchyard-smoke-0123abcd-net' },
      });
    },
  );

  (composeV1.status === 0 ? it : it.skip)(
    'without the run’s env file the overrides stop compose, naming what is missing',
    () => {
      const env = join(work, 'empty.env');
      writeFileSync(env, 'ADMIN_TOKEN=placeholder-placeholder-placeholder-placeholder\n');
      expect(config('docker-compose.yml', STACK_OVERRIDE, '.', env).stderr).toMatch(/SMOKE_(FAKE_IMAGE|NETWORK)/);
    },
  );
});

describe('shellcheck', () => {
  const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;
  if (!shellcheck)
    console.warn('shellcheck checks SKIPPED: shellcheck not found (on Debian/Ubuntu: apt-get install -y shellcheck)');

  (shellcheck ? it : it.skip)(
    'passes deploy/smoke.sh and this test’s stand-ins (workflows.test.ts and ci.yml check deploy/*.sh too)',
    () => {
      const dir = join(work, 'standins');
      mkdirSync(dir);
      for (const [name, text] of Object.entries(STANDINS)) writeFileSync(join(dir, name), text);
      const result = spawnSync('shellcheck', [SCRIPT, ...Object.keys(STANDINS).map((n) => join(dir, n))], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    },
  );
});
