// A reader for the Dockerfiles this repository ships, as the deployment tests need them: stages and their
// instructions, exec-form arrays, COPY/RUN flags, KEY=value lists, HEALTHCHECK. It accepts the subset of
// the syntax our files use and throws on anything else, so a file written past it fails loudly.

/** One instruction, continuation lines joined; `keyword` upper-cased. */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** A build stage: `FROM [--platform=…] <from> AS <name>` and what follows it. */
export interface Stage {
  name: string;
  from: string;
  platform?: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages. Comments and parser directives (`# syntax=…`) are skipped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i] ?? '';
    if (first.trim() === '' || first.trim().startsWith('#')) continue;
    const start = i + 1;
    let joined = first;
    while (/\\\s*$/.test(joined)) {
      joined = joined.replace(/\\\s*$/, ' ');
      // Comment lines inside a continued instruction are dropped, as Docker does.
      let next: string | undefined;
      do next = lines[++i];
      while (next !== undefined && next.trim().startsWith('#'));
      if (next === undefined) break;
      joined += next.trim();
    }
    const match = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(joined);
    if (match === null) throw new Error(`line ${start}: not an instruction: ${joined}`);
    const keyword = (match[1] ?? '').toUpperCase();
    const args = (match[2] ?? '').replace(/\s+/g, ' ');
    if (keyword === 'FROM') {
      const from = /^(?:--platform=(\S+) )?(\S+)(?: AS (\S+))?$/i.exec(args);
      if (from === null) throw new Error(`line ${start}: FROM needs "[--platform=…] image [AS name]": ${args}`);
      const platform = from[1] === undefined ? {} : { platform: from[1] };
      stages.push({ from: from[2] ?? '', name: from[3] ?? String(stages.length), ...platform, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new Error(`line ${start}: ${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args, line: start });
  }
  return stages;
}

/** The stage's instructions with this keyword. */
export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The last instruction with this keyword in the stage, or undefined. */
export function lastInstruction(stage: Stage, keyword: string): Instruction | undefined {
  return instructions(stage, keyword).at(-1);
}

/** An exec-form array (`["node", "main.js"]`), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string'))
    throw new Error(`not an array of strings: ${args}`);
  return parsed;
}

/** Leading `--name=value` flags, and the rest. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m !== null; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    flags[m[1] ?? ''] = m[2] ?? '';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** `KEY=value KEY2="value two"` (ENV, LABEL, ARG): pairs in order; an ARG may have no value. */
export function keyValues(args: string): [string, string | undefined][] {
  const pairs: [string, string | undefined][] = [];
  const re = /([A-Za-z_][A-Za-z0-9_.-]*)(?:=("(?:[^"\\]|\\.)*"|\S*))?(?:\s+|$)/y;
  while (re.lastIndex < args.length) {
    const m = re.exec(args);
    if (m === null) throw new Error(`not KEY=value pairs: ${args}`);
    const raw = m[2];
    pairs.push([m[1] ?? '', raw === undefined ? undefined : raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
  }
  return pairs;
}

/** Replaces `$NAME` and `${NAME}` with values from scope (unset: empty), as Docker does in ENV, LABEL, COPY, WORKDIR. */
export function substitute(text: string, scope: Record<string, string>): string {
  return text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_all, braced: string | undefined, bare: string | undefined) => scope[braced ?? bare ?? ''] ?? '',
  );
}

/** HEALTHCHECK's options and its exec-form command. */
export function healthcheck(args: string): { options: Record<string, string>; command: string[] } {
  const { flags, rest } = splitFlags(args);
  const m = /^CMD (.*)$/.exec(rest);
  const command = m === null ? undefined : execForm(m[1] ?? '');
  if (command === undefined) throw new Error(`HEALTHCHECK needs "CMD [exec form]": ${args}`);
  return { options: flags, command };
}

/** Durations as HEALTHCHECK writes them (`10s`, `1m30s`, `500ms`), in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  while (re.lastIndex < text.length) {
    const m = re.exec(text);
    if (m === null) throw new Error(`not a duration: ${text}`);
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
  }
  return total;
}
