// What "pinned" means for the third-party pieces the repository runs, as a reader of its files: every action a
// workflow uses is a full commit SHA with its version in a comment, and every image a Dockerfile, a compose
// file or a workflow pulls carries a digest. supply-chain.test.ts applies these to the whole tree.
import { parse } from 'yaml';
import { parseDockerfile } from './dockerfile.js';

/** One place something third-party is named, and what is wrong with it ('' when it is pinned). */
export interface Reference {
  file: string;
  ref: string;
  problem: string;
}

const SHA = /^[0-9a-f]{40}$/;
const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** Our own images: the roll-outs deploy them by a digest they verified with cosign (deploy/verify-image.sh). */
export const OWN_IMAGE = /\/switchyard-(gateway|node-agent):\$\{[A-Z_]+:-[^}]+\}$/;

/**
 * The `uses:` of a workflow, from its text (the version comment is not in the parsed YAML). A local action or
 * reusable workflow (`./…`) is this repository's own and needs no pin.
 */
export function workflowActions(file: string, text: string): Reference[] {
  const refs: Reference[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$/.exec(line);
    if (match === null) continue;
    const ref = match[1]!.replace(/^["']|["']$/g, '');
    if (ref.startsWith('./')) continue;
    const comment = match[2] ?? '';
    let problem = '';
    if (ref.startsWith('docker://')) problem = DIGEST.test(ref) ? '' : 'a docker:// action without a digest';
    else {
      const [, version] = ref.split('@');
      if (version === undefined || !SHA.test(version)) problem = 'not pinned to a full 40-hex commit SHA';
      else if (!/^#\s*v\d+(\.\d+){0,2}\S*\s*$/.test(comment))
        problem = 'no "# vX.Y.Z" comment naming the version the SHA is';
    }
    refs.push({ file, ref, problem });
  }
  return refs;
}

const imageProblem = (image: string) => (DIGEST.test(image) ? '' : 'no @sha256: digest');

/** `${{ steps.pins.outputs.NAME }}`: an image a workflow reads from .github/ci/compose.yml (.github/ci/pinned-image.sh). */
const PINS_OUTPUT = /^\$\{\{\s*steps\.pins\.outputs\.([\w-]+)\s*\}\}$/;

/**
 * Images a workflow pulls: job services and containers, `docker run IMAGE` in a run block, and the images its
 * actions are told to run. `pinned` resolves an image the workflow reads from .github/ci/compose.yml by name.
 */
export function workflowImages(
  file: string,
  text: string,
  pinned: (service: string) => string | undefined = () => undefined,
): Reference[] {
  const refs: Reference[] = [];
  const wf = parse(text) as {
    jobs?: Record<
      string,
      {
        container?: string | { image?: string };
        services?: Record<string, { image?: string }>;
        steps?: { run?: string; with?: Record<string, unknown> }[];
      }
    >;
  };
  for (const job of Object.values(wf.jobs ?? {})) {
    const container = typeof job.container === 'string' ? job.container : job.container?.image;
    for (const image of [container, ...Object.values(job.services ?? {}).map((s) => s.image)]) {
      if (image !== undefined) refs.push({ file, ref: image, problem: imageProblem(image) });
    }
    for (const step of job.steps ?? []) {
      for (const named of [...dockerRunImages(step.run ?? ''), ...inputImages(step.with ?? {})]) {
        const service = PINS_OUTPUT.exec(named)?.[1];
        const image = service === undefined ? named : pinned(service);
        if (image === undefined)
          refs.push({ file, ref: named, problem: 'names no image pinned in .github/ci/compose.yml' });
        else refs.push({ file, ref: image, problem: imageProblem(image) });
      }
    }
  }
  return refs;
}

/**
 * Images an action is told to run: an `image:` input (setup-qemu's binfmt), or `image=` / `generator=` inside
 * one (setup-buildx's `driver-opts: image=…` BuildKit, build-push's `sbom: generator=…` scanner).
 */
export function inputImages(inputs: Record<string, unknown>): string[] {
  const images: string[] = [];
  for (const [key, value] of Object.entries(inputs)) {
    if (typeof value !== 'string') continue;
    if (key === 'image') images.push(value.trim());
    for (const [, image] of value.matchAll(/(?:^|[\s,])(?:image|generator)=(\$\{\{[^}]*\}\}|[^\s,]+)/g))
      images.push(image!);
  }
  return images;
}

/** `docker run`'s options that take a value as the next word. */
const RUN_VALUE_OPTIONS = new Set([
  '-v',
  '--volume',
  '-w',
  '--workdir',
  '-e',
  '--env',
  '--env-file',
  '--name',
  '--network',
  '-p',
  '--publish',
  '-u',
  '--user',
  '--entrypoint',
  '--platform',
  '--mount',
  '-l',
  '--label',
]);

/** The image of each `docker run` in a shell script: the first word after the options. */
export function dockerRunImages(script: string): string[] {
  const images: string[] = [];
  for (const [, rest] of script.matchAll(/\bdocker run\b([^\n]*)/g)) {
    const words = rest!.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      if (!word.startsWith('-')) {
        images.push(word);
        break;
      }
      if (RUN_VALUE_OPTIONS.has(word)) i++;
    }
  }
  return images;
}

/** The base images of a Dockerfile: every FROM that names no earlier stage. */
export function dockerfileImages(file: string, text: string): Reference[] {
  const stages = parseDockerfile(text);
  const names = stages.map((s) => s.name);
  return stages
    .filter((s) => !names.includes(s.from))
    .map((s) => ({ file, ref: s.from, problem: imageProblem(s.from) }));
}

/** The smoke test's own image, built from this checkout by deploy/smoke.sh and named by it at run time. */
export const SMOKE_IMAGE = /^\$\{SMOKE_[A-Z_]+(:\?[^}]*)?\}$/;

/**
 * The images of a compose file's services. A service built from this repository names its own local tag;
 * our released images are exempt (OWN_IMAGE: they are deployed by verified digest), and so is the image the
 * smoke test builds (SMOKE_IMAGE).
 */
export function composeImages(file: string, text: string): Reference[] {
  const compose = parse(text) as { services?: Record<string, { image?: string; build?: unknown }> };
  const refs: Reference[] = [];
  for (const service of Object.values(compose.services ?? {})) {
    if (
      service.image === undefined ||
      service.build !== undefined ||
      OWN_IMAGE.test(service.image) ||
      SMOKE_IMAGE.test(service.image)
    )
      continue;
    refs.push({ file, ref: service.image, problem: imageProblem(service.image) });
  }
  return refs;
}
