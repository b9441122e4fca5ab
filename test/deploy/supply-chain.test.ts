// Every third-party piece the repository runs is pinned, and a bot keeps the pins fresh: each action a workflow
// uses is a full commit SHA with its version in a comment; each image a Dockerfile, a compose file or a workflow
// pulls carries a digest (our own two images excepted: the roll-outs deploy them by a digest they verified);
// Dependabot watches every file that holds a pin, weekly. The release jobs attach an SBOM and a provenance
// attestation, sign the digest keylessly and check the signature with the identity the roll-outs demand.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import {
  composeImages,
  dockerfileImages,
  dockerRunImages,
  workflowActions,
  workflowImages,
  type Reference,
} from './pins.js';

const ROOT = resolve(__dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
/** The tree's files as a clean clone has them (tracked, plus new ones not ignored). */
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: ROOT,
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f !== '' && !f.startsWith('node_modules/'));
const workflows = files.filter((f) => /^\.github\/workflows\/[^/]+\.ya?ml$/.test(f));
const dockerfiles = files.filter((f) => /(^|\/)(Dockerfile|[^/]+\.Dockerfile)$/.test(f));
/** Compose files, overrides included: every YAML file outside the workflows with a services: mapping. */
const composeFiles = files.filter(
  (f) =>
    /\.ya?ml$/.test(f) &&
    !f.startsWith('.github/workflows/') &&
    typeof (parse(read(f)) as { services?: unknown } | null)?.services === 'object',
);
const unpinned = (refs: Reference[]) => refs.filter((r) => r.problem !== '');
const SIGNING_ISSUER = 'https://token.actions.githubusercontent.com';

/** The image a service of .github/ci/compose.yml pins, as .github/ci/pinned-image.sh prints it for a workflow. */
function ciPin(service: string): string | undefined {
  const result = spawnSync('bash', [join(ROOT, '.github/ci/pinned-image.sh'), service], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

describe('pins', () => {
  const actions = workflows.flatMap((f) => workflowActions(f, read(f)));
  const images = [
    ...dockerfiles.flatMap((f) => dockerfileImages(f, read(f))),
    ...composeFiles.flatMap((f) => composeImages(f, read(f))),
    ...workflows.flatMap((f) => workflowImages(f, read(f), ciPin)),
  ];

  it('every action in every workflow is a full commit SHA with its version in a comment', () => {
    expect(actions.length).toBeGreaterThan(20);
    expect(unpinned(actions)).toEqual([]);
  });

  it('the same action is pinned to the same commit everywhere', () => {
    const byAction = new Map<string, Set<string>>();
    for (const { ref } of actions) {
      const [name, sha] = ref.split('@') as [string, string];
      byAction.set(name, (byAction.get(name) ?? new Set()).add(sha));
    }
    expect([...byAction].filter(([, shas]) => shas.size > 1).map(([name]) => name)).toEqual([]);
  });

  it('every image a Dockerfile, a compose file or a workflow pulls carries a digest', () => {
    expect(dockerfiles).toEqual(expect.arrayContaining(['gateway/Dockerfile', 'node-agent/Dockerfile']));
    expect(composeFiles).toEqual(
      expect.arrayContaining(['docker-compose.yml', 'node-agent/docker-compose.yml', '.github/ci/compose.yml']),
    );
    // The base images the issue names are all among what was checked.
    const names = images.map((i) => i.ref.split('@')[0]!.replace(/:[^:/]*$/, ''));
    expect(names).toEqual(
      expect.arrayContaining([
        'node',
        'redis',
        'caddy',
        'nickfedor/watchtower',
        'rhysd/actionlint',
        'moby/buildkit',
        'tonistiigi/binfmt',
        'docker/buildkit-syft-scanner',
      ]),
    );
    expect(unpinned(images)).toEqual([]);
  });

  it('an image tag has one digest across the tree (a half-done update shows)', () => {
    const byTag = new Map<string, Set<string>>();
    for (const { ref } of images) {
      const [tag, digest] = ref.split('@') as [string, string];
      byTag.set(tag, (byTag.get(tag) ?? new Set()).add(digest));
    }
    expect([...byTag].filter(([, digests]) => digests.size > 1).map(([tag]) => tag)).toEqual([]);
  });

  it('finds planted mistakes, so the checks above can fail', () => {
    const sha = 'a'.repeat(40);
    const digest = `sha256:${'b'.repeat(64)}`;
    const wf = (uses: string) => workflowActions('planted.yml', `jobs:\n  x:\n    steps:\n      - uses: ${uses}\n`);
    expect(unpinned(wf('actions/checkout@v6'))).toHaveLength(1);
    expect(unpinned(wf(`actions/checkout@${sha.slice(0, 12)} # v6.0.1`))).toHaveLength(1);
    expect(unpinned(wf(`actions/checkout@${sha}`))).toHaveLength(1); // no version comment
    expect(unpinned(wf(`actions/checkout@${sha} # v6.0.1`))).toEqual([]);
    expect(unpinned(wf('./.github/workflows/ci.yml'))).toEqual([]);
    expect(unpinned(wf('docker://alpine:3'))).toHaveLength(1);

    expect(
      unpinned(dockerfileImages('Dockerfile', 'FROM node:20-bookworm-slim AS base\nFROM base AS runtime\n')),
    ).toEqual([{ file: 'Dockerfile', ref: 'node:20-bookworm-slim', problem: 'no @sha256: digest' }]);
    expect(
      unpinned(
        dockerfileImages('Dockerfile', `FROM --platform=$BUILDPLATFORM node:20-bookworm-slim@${digest} AS build\n`),
      ),
    ).toEqual([]);

    const compose = (image: string, extra = '') =>
      composeImages('compose.yml', `services:\n  s:\n    image: ${image}\n${extra}`);
    expect(unpinned(compose('redis:7-alpine'))).toHaveLength(1);
    expect(unpinned(compose(`redis:7-alpine@${digest}`))).toEqual([]);
    expect(unpinned(compose('${WATCHTOWER_IMAGE:-nickfedor/watchtower:latest}'))).toHaveLength(1);
    expect(
      unpinned(compose('${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-node-agent:${NODE_AGENT_TAG:-latest}')),
    ).toEqual([]);
    expect(unpinned(compose('switchyard-smoke-fake:local', '    build: .\n'))).toEqual([]);
    expect(unpinned(compose('${SMOKE_FAKE_IMAGE:?set it}'))).toEqual([]);
    expect(unpinned(compose('${OTHER_IMAGE:-redis:7}'))).toHaveLength(1);

    const services = 'jobs:\n  t:\n    services:\n      redis:\n        image: redis:7-alpine\n    steps: []\n';
    expect(unpinned(workflowImages('planted.yml', services))).toHaveLength(1);
    expect(dockerRunImages('docker run --rm -v "$PWD:/repo" -w /repo rhysd/actionlint:1.7.11 -color')).toEqual([
      'rhysd/actionlint:1.7.11',
    ]);
    expect(dockerRunImages(`docker run --rm --network=host redis:7@${digest} redis-cli ping`)).toEqual([
      `redis:7@${digest}`,
    ]);
    const step = (inputs: string) => `jobs:\n  t:\n    steps:\n      - uses: x/y@${sha} # v1\n        with:\n${inputs}`;
    expect(
      unpinned(workflowImages('planted.yml', step('          driver-opts: image=moby/buildkit:buildx-stable-1\n'))),
    ).toHaveLength(1);
    expect(unpinned(workflowImages('planted.yml', step('          image: tonistiigi/binfmt:latest\n')))).toHaveLength(
      1,
    );
    expect(
      unpinned(
        workflowImages('planted.yml', step('          sbom: generator=docker/buildkit-syft-scanner:stable-1\n')),
      ),
    ).toHaveLength(1);
    expect(
      unpinned(workflowImages('planted.yml', step('          image: ${{ steps.pins.outputs.nothing }}\n'), ciPin)),
    ).toEqual([
      {
        file: 'planted.yml',
        ref: '${{ steps.pins.outputs.nothing }}',
        problem: 'names no image pinned in .github/ci/compose.yml',
      },
    ]);
    expect(
      unpinned(
        workflowImages('planted.yml', step('          driver-opts: image=${{ steps.pins.outputs.buildkit }}\n'), ciPin),
      ),
    ).toEqual([]);
    expect(
      unpinned(
        workflowImages(
          'planted.yml',
          step(
            `          driver-opts: |\n            network=host\n            image=moby/buildkit:v0.33.1@${digest}\n`,
          ),
        ),
      ),
    ).toEqual([]);
  });
});

describe('.github/dependabot.yml', () => {
  interface Update {
    'package-ecosystem': string;
    directory?: string;
    directories?: string[];
    schedule: { interval: string };
  }
  const config = parse(read('.github/dependabot.yml')) as { version: number; updates: Update[] };
  const ecosystem = (name: string) => config.updates.find((u) => u['package-ecosystem'] === name);
  const dirs = (u: Update | undefined) => [
    ...(u?.directories ?? []),
    ...(u?.directory === undefined ? [] : [u.directory]),
  ];
  const dirOf = (file: string) => `/${dirname(file)}`.replace(/\/\.$/, '') || '/';

  it('proposes npm, GitHub Actions, Dockerfile and compose updates every week', () => {
    expect(config.version).toBe(2);
    expect(config.updates.map((u) => u['package-ecosystem']).sort()).toEqual([
      'docker',
      'docker-compose',
      'github-actions',
      'npm',
    ]);
    for (const update of config.updates)
      expect({ ecosystem: update['package-ecosystem'], interval: update.schedule.interval }).toEqual({
        ecosystem: update['package-ecosystem'],
        interval: 'weekly',
      });
    expect(dirs(ecosystem('npm'))).toEqual(['/']);
    expect(dirs(ecosystem('github-actions'))).toEqual(['/']);
  });

  it('watches every directory whose Dockerfiles or compose files pin an image, and only directories it can read', () => {
    expect(dirs(ecosystem('docker')).sort()).toEqual([...new Set(dockerfiles.map(dirOf))].sort());
    const pinning = composeFiles.filter((f) => composeImages(f, read(f)).length > 0);
    expect(dirs(ecosystem('docker-compose')).sort()).toEqual([...new Set(pinning.map(dirOf))].sort());
    // Dependabot reads compose files by name only ((docker-)compose*.yml): each directory must hold one.
    for (const dir of dirs(ecosystem('docker-compose'))) {
      const named = composeFiles.filter((f) => dirOf(f) === dir && /(^|\/)(docker-)?compose[^/]*\.ya?ml$/.test(f));
      expect({ dir, named: named.length > 0 }).toEqual({ dir, named: true });
    }
  });

  it('never proposes a new major of Node or Redis (the stack runs Node 20 and Redis 7)', () => {
    for (const name of ['docker', 'docker-compose']) {
      const ignored =
        (ecosystem(name) as { ignore?: { 'dependency-name': string; 'update-types'?: string[] }[] }).ignore ?? [];
      for (const image of name === 'docker' ? ['node'] : ['redis']) {
        expect(ignored).toContainEqual({ 'dependency-name': image, 'update-types': ['version-update:semver-major'] });
      }
    }
  });
});

describe.each([
  { file: 'release-gateway.yml', component: 'gateway' },
  { file: 'release-node-agent.yml', component: 'node-agent' },
])('$file: provenance', ({ file, component }) => {
  interface Step {
    id?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
  }
  const steps = (parse(read(`.github/workflows/${file}`)) as { jobs: { image: { steps: Step[] } } }).jobs.image.steps;
  const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
  const sign = steps.findIndex((s) => s.run?.includes('cosign sign'));
  const verify = steps.findIndex((s) => s.run?.includes('cosign verify'));

  it('attaches an SBOM (by a pinned scanner) and a full provenance attestation to the pushed image', () => {
    expect(build.with).toMatchObject({
      push: true,
      provenance: 'mode=max',
      sbom: 'generator=${{ steps.pins.outputs.syft }}',
    });
    expect(ciPin('syft')).toMatch(/^docker\/buildkit-syft-scanner:[\w.-]+@sha256:[0-9a-f]{64}$/);
  });

  it('signs the digest, then verifies it with the identity the roll-outs demand (this workflow, this ref, GitHub’s issuer)', () => {
    expect(sign).toBeGreaterThan(steps.indexOf(build));
    expect(verify).toBeGreaterThan(sign);
    const run = steps[verify]!.run!;
    expect(run).toContain('cosign verify "${IMAGE}@${DIGEST}"');
    expect(run).toContain(
      `--certificate-identity "https://github.com/\${GITHUB_REPOSITORY}/.github/workflows/release-${component}.yml@\${GITHUB_REF}"`,
    );
    expect(run).toContain(`--certificate-oidc-issuer ${SIGNING_ISSUER}`);
    expect(run).toContain('--certificate-github-workflow-sha "${GITHUB_SHA}"'); // built from this very commit
    expect(steps[verify]!.env?.DIGEST).toBe(`\${{ steps.${build.id}.outputs.digest }}`);
  });
});
