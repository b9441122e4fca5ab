// Runs a Dockerfile's build on this host, without Docker, so a test can start exactly what the image starts.
// The translation, kept small on purpose:
//  - the build context is the repository's files (tracked, or new and not git-ignored) minus .dockerignore;
//  - each stage gets a directory that stands for its WORKDIR; COPY copies into it from the context or from
//    another stage's directory, with Docker's rules for files and directories; FROM <stage> starts from a
//    copy of that stage (its files, ENV, LABEL, USER);
//  - RUN runs `/bin/sh -c` in that directory with the stage's ARG and ENV values; `--mount=type=cache`
//    is only a cache, and the host's npm cache stands in for it;
//  - the stages named in `skipRunIn` (the OS layer: apt and chown need root) do not run their RUNs, which
//    are returned for the test to show; everything else in them still applies;
//  - USER, EXPOSE, VOLUME, LABEL, HEALTHCHECK, ENTRYPOINT and CMD are recorded, not enforced;
//  - a stage of another build can be reused when it is the same stage, text for text (a build stage two
//    Dockerfiles share, as Docker's cache would share it); a different one throws.
// Anything else (another instruction, a glob, a second WORKDIR) throws.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import {
  execForm,
  healthcheck,
  keyValues,
  parseDockerfile,
  splitFlags,
  substitute,
  type Instruction,
} from './dockerfile.js';

/** What to build. */
export interface BuildRequest {
  dockerfile: string;
  /** A directory holding the build context (see {@link copyBuildContext}). */
  context: string;
  /** An empty directory; each stage gets a subdirectory. */
  workRoot: string;
  buildArgs: Record<string, string>;
  /** Stages whose RUN commands are not run. */
  skipRunIn: readonly string[];
  /** The environment every RUN starts from (PATH and HOME: where node, npm and its cache are). */
  baseEnv: Record<string, string>;
  /** Stages already built by another build (its {@link BuiltImage.stages}), to reuse where identical. */
  reuse?: ReadonlyMap<string, BuiltStage>;
}

/** A stage once built: its directory and state, and its text (FROM and instructions) for reuse checks. */
export interface BuiltStage {
  readonly text: string;
  readonly state: Readonly<StageState>;
}

/** The final stage, as a container of the image would see it. */
export interface BuiltImage {
  /** The directory standing for the WORKDIR of the final stage. */
  dir: string;
  workdir: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  user: string | undefined;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  /** RUN commands of skipped stages, in order. */
  skipped: string[];
  /** Every stage of this build, by name. */
  stages: ReadonlyMap<string, BuiltStage>;
}

interface StageState extends Omit<BuiltImage, 'workdir' | 'skipped' | 'stages'> {
  workdir: string | undefined;
  args: Record<string, string>;
}

/** Builds every stage in order and returns the last one. */
export async function buildWithoutDocker(req: BuildRequest): Promise<BuiltImage> {
  const done = new Map<string, StageState>();
  const built = new Map<string, BuiltStage>();
  const skipped: string[] = [];
  let last: StageState | undefined;
  for (const stage of parseDockerfile(readFileSync(req.dockerfile, 'utf8'))) {
    const platform = stage.platform === undefined ? '' : `--platform=${stage.platform} `;
    const text = [
      `FROM ${platform}${stage.from} AS ${stage.name}`,
      ...stage.instructions.map((i) => `${i.keyword} ${i.args}`),
    ].join('\n');
    const reused = req.reuse?.get(stage.name);
    if (reused !== undefined) {
      if (reused.text !== text)
        throw new Error(`${req.dockerfile}: stage ${stage.name} differs from the one offered for reuse`);
      done.set(stage.name, reused.state);
      built.set(stage.name, reused);
      last = reused.state;
      continue;
    }
    const dir = join(req.workRoot, stage.name);
    mkdirSync(dir, { recursive: true });
    const parent = done.get(stage.from);
    const state: StageState = parent
      ? { ...structuredClone(parent), dir, args: {} }
      : {
          dir,
          workdir: undefined,
          env: {},
          labels: {},
          user: undefined,
          entrypoint: [],
          cmd: [],
          healthcheck: [],
          args: {},
        };
    if (parent) cpSync(parent.dir, dir, { recursive: true, verbatimSymlinks: true });
    for (const ins of stage.instructions) {
      const at = `${req.dockerfile}:${ins.line} (${stage.name})`;
      try {
        await apply(ins, state, { req, done, skip: req.skipRunIn.includes(stage.name), skipped });
      } catch (err) {
        throw new Error(`${at}: ${ins.keyword} ${ins.args}\n${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
    }
    done.set(stage.name, state);
    built.set(stage.name, { text, state });
    last = state;
  }
  if (last?.workdir === undefined) throw new Error(`${req.dockerfile}: the final stage has no WORKDIR`);
  const { args: _args, ...image } = last;
  return { ...image, workdir: last.workdir, skipped, stages: built };
}

interface Context {
  req: BuildRequest;
  done: Map<string, StageState>;
  skip: boolean;
  skipped: string[];
}

async function apply(ins: Instruction, state: StageState, ctx: Context): Promise<void> {
  const scope = () => ({ ...state.args, ...state.env });
  switch (ins.keyword) {
    case 'ARG':
      for (const [name, fallback] of keyValues(ins.args)) {
        const value = ctx.req.buildArgs[name] ?? fallback;
        if (value !== undefined) state.args[name] = value;
      }
      return;
    case 'ENV':
    case 'LABEL': {
      const into = ins.keyword === 'ENV' ? state.env : state.labels;
      for (const [name, value] of keyValues(ins.args)) {
        if (value === undefined) throw new Error('write KEY=value');
        into[name] = substitute(value, scope());
      }
      return;
    }
    case 'WORKDIR': {
      const workdir = substitute(ins.args, scope());
      if (!workdir.startsWith('/')) throw new Error('WORKDIR must be absolute here');
      if (state.workdir !== undefined && state.workdir !== workdir)
        throw new Error(`a second WORKDIR (${state.workdir} before)`);
      state.workdir = workdir;
      return;
    }
    case 'COPY':
      return copy(ins.args, state, scope(), ctx);
    case 'RUN':
      return run(ins.args, state, scope(), ctx);
    case 'USER':
      state.user = ins.args;
      return;
    case 'ENTRYPOINT':
    case 'CMD': {
      const argv = execForm(ins.args);
      if (argv === undefined)
        throw new Error('use the exec form (a JSON array), so no shell stands between tini and node');
      if (ins.keyword === 'CMD') state.cmd = argv;
      else state.entrypoint = argv;
      return;
    }
    case 'HEALTHCHECK':
      state.healthcheck = healthcheck(ins.args).command;
      return;
    case 'EXPOSE':
    case 'VOLUME':
      return;
    default:
      throw new Error(`${ins.keyword} is not translated by build-without-docker`);
  }
}

/** Where a path of the stage's filesystem lives on disk: only paths under its WORKDIR exist here. */
function onDisk(state: StageState, path: string): string {
  if (state.workdir === undefined) throw new Error('COPY and RUN need a WORKDIR first');
  const absolute = posix.resolve(state.workdir, path);
  const rel = posix.relative(state.workdir, absolute);
  if (rel.startsWith('..'))
    throw new Error(`${path} is outside the WORKDIR ${state.workdir}, which is all a stage has on disk here`);
  return join(state.dir, rel);
}

function copy(args: string, state: StageState, scope: Record<string, string>, ctx: Context): void {
  const { flags, rest } = splitFlags(args);
  for (const flag of Object.keys(flags))
    if (!['from', 'chown', 'chmod', 'link'].includes(flag)) throw new Error(`COPY --${flag} is not translated`);
  const parts = substitute(rest, scope).split(' ');
  const dest = parts.pop() ?? '';
  if (parts.length === 0) throw new Error('COPY needs a source and a destination');
  const from = flags.from === undefined ? undefined : ctx.done.get(flags.from);
  if (flags.from !== undefined && from === undefined) throw new Error(`no earlier stage named ${flags.from}`);
  const target = onDisk(state, dest);
  const intoDirectory = dest.endsWith('/') || parts.length > 1;
  for (const src of parts) {
    if (/[*?[]/.test(src)) throw new Error(`COPY ${src}: globs are not translated`);
    const source = from === undefined ? join(ctx.req.context, src.replace(/^\/+/, '')) : onDisk(from, src);
    if (!existsSync(source))
      throw new Error(
        `COPY ${src}: not found in ${flags.from === undefined ? 'the build context (.dockerignore?)' : `stage ${flags.from}`}`,
      );
    if (statSync(source).isDirectory()) {
      // A directory's contents go into the destination, not the directory itself.
      cpSync(source, target, { recursive: true, verbatimSymlinks: true });
    } else {
      const to = intoDirectory ? join(target, basename(src)) : target;
      mkdirSync(dirname(to), { recursive: true });
      cpSync(source, to);
    }
  }
}

async function run(args: string, state: StageState, scope: Record<string, string>, ctx: Context): Promise<void> {
  const { flags, rest } = splitFlags(args);
  for (const [flag, value] of Object.entries(flags)) {
    if (flag !== 'mount' || !value.startsWith('type=cache,'))
      throw new Error(`RUN --${flag}=${value} is not translated (only cache mounts are)`);
  }
  if (ctx.skip) {
    ctx.skipped.push(rest);
    return;
  }
  const cwd = onDisk(state, '.');
  mkdirSync(cwd, { recursive: true });
  const child = spawn('/bin/sh', ['-c', rest], {
    cwd,
    env: { ...ctx.req.baseEnv, ...scope },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-6_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  if (code !== 0) throw new Error(`exited with ${code ?? 'a signal'}:\n${output}`);
}

/** The build context Docker would send from `root`: the repository's files (tracked, or new and not git-ignored), minus .dockerignore. */
export function copyBuildContext(root: string, dest: string): string[] {
  const listed = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  const ignore = dockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
  const files = listed.stdout
    .split('\0')
    .filter((f) => f !== '' && !ignore(f) && existsSync(join(root, f)) && statSync(join(root, f)).isFile());
  for (const file of files) {
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    cpSync(join(root, file), join(dest, file));
  }
  return files;
}

/**
 * A .dockerignore as a predicate over context-relative paths: `*` and `?` within a segment, `**` across
 * segments, `!` re-includes; the last matching line wins, and a line matching a directory matches all in it.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = posix.normalize((negate ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '');
      return { negate, re: globToRegExp(pattern) };
    });
  return (path) => {
    const prefixes = path.split('/').map((_, i, segs) => segs.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) ignored = !rule.negate;
    return ignored;
  };
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
