// Every variable of every config schema is documented in the .env.example an operator copies, and passed
// by the compose file to the container that reads it: the keys are read from the zod schemas themselves,
// so a variable added to a schema and forgotten here fails this file. The defaults shown are the ones that
// apply, the required values ship empty (a copied .env never starts with a known secret), and nothing in
// the examples looks like a real token.
import { z } from 'zod';
import { GatewayConfigSchema } from '../../gateway/src/config.js';
import { WorkerConfigSchema } from '../../gateway/src/usage-worker/config.js';
import { NodeConfigSchema } from '../../node-agent/src/config.js';
import {
  interpolate,
  interpolations,
  interpolationsIn,
  notPassed,
  parseCompose,
  parseEnvExample,
  readRepoFile,
  schemaDefault,
  undocumented,
  type ComposeFile,
  type EnvExample,
  type SchemaDefault,
} from './compose-env.js';

type Shape = Record<string, z.ZodType>;

/** The image sets it (ENV GIT_SHA=$GIT_SHA at build time): a compose value would hide the running build's sha. */
const FROM_IMAGE = new Set(['GIT_SHA']);

interface Deployment {
  name: string;
  example: string;
  compose: string;
  /** Which service runs which process, and the schema keys that process does not take from compose. */
  processes: { service: string; schema: Shape; notInCompose: ReadonlySet<string> }[];
}

const deployments: Deployment[] = [
  {
    name: 'the stack',
    example: '.env.example',
    compose: 'docker-compose.yml',
    processes: [
      { service: 'gateway-1', schema: GatewayConfigSchema.shape, notInCompose: FROM_IMAGE },
      { service: 'gateway-2', schema: GatewayConfigSchema.shape, notInCompose: FROM_IMAGE },
      { service: 'worker', schema: WorkerConfigSchema.shape, notInCompose: FROM_IMAGE },
      { service: 'node-agent', schema: NodeConfigSchema.shape, notInCompose: FROM_IMAGE },
    ],
  },
  {
    name: 'a node host',
    example: 'node-agent/.env.example',
    compose: 'node-agent/docker-compose.yml',
    processes: [{ service: 'node-agent', schema: NodeConfigSchema.shape, notInCompose: FROM_IMAGE }],
  },
];

function load(d: Deployment): { example: EnvExample; exampleText: string; compose: ComposeFile; composeText: string } {
  const exampleText = readRepoFile(d.example);
  const composeText = readRepoFile(d.compose);
  return { example: parseEnvExample(exampleText), exampleText, compose: parseCompose(composeText), composeText };
}

function env(compose: ComposeFile, service: string): Record<string, string> {
  return compose.services[service]?.environment ?? {};
}

/** Every schema key of the deployment's processes. */
function schemaKeys(d: Deployment): Set<string> {
  return new Set(d.processes.flatMap((p) => Object.keys(p.schema)));
}

/**
 * What applies when .env leaves `key` alone, per process: the compose default (`${KEY:-x}`), else the
 * schema's default; 'optional' or 'required' when there is none.
 */
function effectiveDefaults(d: Deployment, compose: ComposeFile, key: string): SchemaDefault[] {
  return d.processes
    .filter((p) => key in p.schema)
    .map((p) => {
      const value = env(compose, p.service)[key];
      const fromCompose =
        value === undefined
          ? undefined
          : interpolations(value).find((i) => i.name === key && i.op === ':-' && i.arg !== '');
      if (fromCompose) return { kind: 'value', value: fromCompose.arg } as const;
      return schemaDefault(p.schema[key]!);
    });
}

describe.each(deployments)('$name ($example, $compose)', (d) => {
  const { example, exampleText, compose, composeText } = load(d);
  const composeVars = new Set(interpolationsIn(composeText).map((i) => i.name));

  test('documents every variable of every schema its processes read', () => {
    expect(undocumented(schemaKeys(d), example)).toEqual([]);
  });

  test('passes every variable of each schema to the container that reads it', () => {
    for (const p of d.processes) {
      expect({
        service: p.service,
        missing: notPassed(Object.keys(p.schema), compose.services[p.service] ?? {}, p.notInCompose),
      }).toEqual({ service: p.service, missing: [] });
    }
  });

  test('never overrides the git sha the image was built with', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const key of FROM_IMAGE) expect({ name, [key]: svc.environment?.[key] }).toEqual({ name, [key]: undefined });
    }
  });

  test('each passed-through variable is read from .env under its own name', () => {
    for (const p of d.processes) {
      for (const [key, value] of Object.entries(env(compose, p.service))) {
        const names = interpolations(value).map((i) => i.name);
        if (names.length > 0)
          expect({ service: p.service, key, reads: names }).toEqual({ service: p.service, key, reads: [key] });
      }
    }
  });

  test('a variable compose fixes is listed as set by the compose file, not offered as a line that would do nothing', () => {
    for (const p of d.processes) {
      for (const [key, value] of Object.entries(env(compose, p.service))) {
        if (interpolations(value).length > 0 || composeVars.has(key)) continue;
        expect({ key, listed: example.fixed.has(key), line: example.entries.has(key) }).toEqual({
          key,
          listed: true,
          line: false,
        });
      }
    }
    // And what the list names really is fixed (or not passed) everywhere.
    for (const key of example.fixed)
      expect({ key, readFromEnv: composeVars.has(key) }).toEqual({ key, readFromEnv: false });
  });

  test('documents every variable the compose file reads, and nothing it does not', () => {
    expect([...composeVars].filter((v) => !example.entries.has(v))).toEqual([]);
    const keys = schemaKeys(d);
    expect([...example.entries.keys()].filter((k) => !composeVars.has(k) && !keys.has(k))).toEqual([]);
    expect(example.duplicates).toEqual([]);
  });

  test('the defaults it shows are the ones that apply', () => {
    for (const [key, entry] of example.entries) {
      if (!entry.commented) continue;
      const defaults = effectiveDefaults(d, compose, key);
      const composeOnly = interpolationsIn(composeText).filter((i) => i.name === key && i.op === ':-');
      const expected =
        defaults.length > 0 ? defaults : composeOnly.map((i) => ({ kind: 'value', value: i.arg }) as const);
      const values = new Set(expected.map((e) => (e.kind === 'value' ? e.value : '')));
      if (entry.value !== '') {
        // Shown a value: it is what every process reading the variable gets.
        expect({ key, shown: entry.value, applies: [...values] }).toEqual({
          key,
          shown: entry.value,
          applies: [entry.value],
        });
      } else {
        // Shown empty: some process has no default (optional), or they differ (e.g. METRICS_PORT).
        expect({ key, noSingleDefault: values.size !== 1 || values.has('') }).toEqual({ key, noSingleDefault: true });
      }
    }
  });

  test('required values ship empty and uncommented, so `docker compose up` names them until they are set', () => {
    const required = new Set(
      interpolationsIn(composeText)
        .filter((i) => i.op === ':?')
        .map((i) => i.name),
    );
    expect(required.size).toBeGreaterThan(0);
    for (const key of required)
      expect({ key, entry: example.entries.get(key) }).toEqual({ key, entry: { key, value: '', commented: false } });
    // Every line that is set (uncommented) is set to nothing: the example ships no value, secret or not.
    for (const entry of example.entries.values())
      if (!entry.commented) expect({ key: entry.key, value: entry.value }).toEqual({ key: entry.key, value: '' });
    // And with .env copied as is, compose refuses to start.
    const asIs = Object.fromEntries(
      [...example.entries.values()].filter((e) => !e.commented).map((e) => [e.key, e.value]),
    );
    const composeValues = Object.values(compose.services).flatMap((s) => Object.values(s.environment ?? {}));
    expect(() => composeValues.forEach((v) => interpolate(v, asIs))).toThrow(/is missing a value: set \w+ in \.env/);
  });

  test('holds nothing shaped like a real secret', () => {
    // An image digest (`@sha256:…`) is the public address of an image's content, not a secret.
    for (const text of [exampleText, composeText].map((t) =>
      t.replace(/@sha256:[0-9a-f]{64}\b/g, '@sha256:<digest>'),
    )) {
      expect(text).not.toMatch(/sk-ant-[A-Za-z0-9_-]{8,}/);
      expect(text).not.toMatch(/\bsyn?-[A-Za-z0-9_-]{16,}/);
      expect(text).not.toMatch(/\b[0-9a-f]{32,}\b/i);
      expect(text).not.toMatch(/\b[A-Za-z0-9+/_-]{40,}={0,2}/);
      expect(text).not.toMatch(/(?:ghp|github_pat|gho)_[A-Za-z0-9_]{10,}/);
    }
  });
});

describe('a variable added to a schema but not documented fails these checks', () => {
  const d = deployments[0]!;
  const { example, compose } = load(d);
  const grown = z.object({ ...GatewayConfigSchema.shape, SOME_NEW_SETTING: z.string().optional() }).shape;

  test('.env.example misses it', () => {
    expect(undocumented(Object.keys(grown), example)).toEqual(['SOME_NEW_SETTING']);
  });

  test('the gateway services do not pass it', () => {
    expect(notPassed(Object.keys(grown), compose.services['gateway-1'] ?? {}, FROM_IMAGE)).toEqual([
      'SOME_NEW_SETTING',
    ]);
  });

  test('documenting it as a line or in the fixed list satisfies the check', () => {
    expect(undocumented(['SOME_NEW_SETTING'], parseEnvExample('# SOME_NEW_SETTING=\n'))).toEqual([]);
    expect(
      undocumented(['SOME_NEW_SETTING'], parseEnvExample('#   SOME_NEW_SETTING   /data/x, on a volume\n')),
    ).toEqual([]);
    expect(
      undocumented(['SOME_NEW_SETTING'], parseEnvExample('# SOME_NEW_SETTING is mentioned in prose only\n')),
    ).toEqual(['SOME_NEW_SETTING']);
  });
});
