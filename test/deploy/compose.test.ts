// The compose stack (docker-compose.yml), a node host's compose file (node-agent/docker-compose.yml) and the
// edge's Caddyfile, checked for what an operator relies on: which services run and how they stay up, where
// their state lives, that a stopping gateway or node finishes its streams before Docker kills it, that only
// the edge faces clients, and that the node host's Watchtower can touch nothing but the node. No Docker
// engine here: the files are parsed; where Debian's docker-compose (v1) or caddy is installed, they also
// validate the files as Compose and Caddy read them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@switchyard/shared';
import { GatewayConfigSchema } from '../../gateway/src/config.js';
import { WorkerConfigSchema } from '../../gateway/src/usage-worker/config.js';
import { NodeConfigSchema } from '../../node-agent/src/config.js';
import { interpolate, interpolations, parseCompose, parseEnvExample, readRepoFile, REPO_ROOT, schemaDefault, type ComposeService } from './compose-env.js';
import { durationMs, execForm, keyValues, lastInstruction, parseDockerfile } from './dockerfile.js';

const stackText = readRepoFile('docker-compose.yml');
const stack = parseCompose(stackText);
const nodeHostText = readRepoFile('node-agent/docker-compose.yml');
const nodeHost = parseCompose(nodeHostText);
const caddyfile = readRepoFile('deploy/Caddyfile');

function service(file: { services: Record<string, ComposeService> }, name: string): ComposeService {
  const s = file.services[name];
  if (s === undefined) throw new Error(`no service ${name}`);
  return s;
}

/** A compose value with an empty .env: what runs when the operator sets nothing. */
function byDefault(value: string | undefined): string {
  return interpolate(value ?? '', {});
}

/** The value a process runs with when .env leaves the variable alone: the compose default, else the schema's. */
function effectiveMs(svc: ComposeService, key: string, field: Parameters<typeof schemaDefault>[0]): number {
  const fromCompose = byDefault(svc.environment?.[key]);
  if (fromCompose !== '') return Number(fromCompose);
  const fromSchema = schemaDefault(field);
  if (fromSchema.kind !== 'value') throw new Error(`${key} has no default`);
  return Number(fromSchema.value);
}

function mountTarget(svc: ComposeService, volume: string): string | undefined {
  return svc.volumes?.find((v) => v.split(':')[0] === volume)?.split(':')[1];
}

const gatewayServices = ['gateway-1', 'gateway-2'] as const;

describe('the stack (docker-compose.yml)', () => {
  test('runs Redis, the edge, two gateway replicas, the usage worker and one node', () => {
    expect(Object.keys(stack.services).sort()).toEqual(['edge', 'gateway-1', 'gateway-2', 'node-agent', 'redis', 'worker']);
  });

  test('every service has a health check and comes back after a crash or a reboot', () => {
    for (const [name, svc] of Object.entries(stack.services)) {
      expect({ name, healthcheck: (svc.healthcheck?.test?.length ?? 0) > 1, restart: svc.restart }).toEqual({ name, healthcheck: true, restart: 'unless-stopped' });
    }
  });

  test('the health checks run the images’ own scripts: /health on the gateways, the worker’s metrics listener, the node’s /health', () => {
    for (const name of gatewayServices) expect(service(stack, name).healthcheck?.test).toEqual(['CMD', 'node', 'gateway/dist/healthcheck.js', '/health']);
    expect(service(stack, 'worker').healthcheck?.test).toEqual(['CMD', 'node', 'gateway/dist/usage-worker/healthcheck.js']);
    expect(service(stack, 'node-agent').healthcheck?.test).toEqual(['CMD', 'node', 'node-agent/dist/healthcheck.js']);
    for (const script of ['gateway/src/healthcheck.ts', 'gateway/src/usage-worker/healthcheck.ts', 'node-agent/src/healthcheck.ts']) {
      expect(existsSync(join(REPO_ROOT, script))).toBe(true);
    }
  });

  test('the two gateway replicas are one definition: same image, environment and health check, each its own spool', () => {
    const [one, two] = gatewayServices.map((n) => service(stack, n));
    const { volumes: v1, ...rest1 } = one!;
    const { volumes: v2, ...rest2 } = two!;
    expect(rest2).toEqual(rest1);
    expect(v1).toEqual(['gateway-1-spool:/data/usage-spool']);
    expect(v2).toEqual(['gateway-2-spool:/data/usage-spool']);
  });

  test('the gateways, the worker and the node run the released images, or build them from this checkout', () => {
    const gatewayImage = '${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-gateway:${GATEWAY_TAG:-latest}';
    for (const name of [...gatewayServices, 'worker']) {
      const svc = service(stack, name);
      expect(svc.image).toBe(gatewayImage);
      expect(svc.build).toMatchObject({ context: '.', dockerfile: 'gateway/Dockerfile' });
    }
    const node = service(stack, 'node-agent');
    expect(node.image).toBe('${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-node-agent:${NODE_AGENT_TAG:-latest}');
    expect(node.build).toMatchObject({ context: '.', dockerfile: 'node-agent/Dockerfile' });
    expect(byDefault(node.image)).toBe('ghcr.io/switchyard/switchyard-node-agent:latest');
    for (const dockerfile of ['gateway/Dockerfile', 'node-agent/Dockerfile']) expect(existsSync(join(REPO_ROOT, dockerfile))).toBe(true);
  });

  test('the worker is the gateway image started with the worker’s entry point', () => {
    expect(service(stack, 'worker').command).toEqual(['node', 'gateway/dist/usage-worker/main.js']);
    for (const name of [...gatewayServices, 'node-agent']) expect(service(stack, name).command).toBeUndefined();
  });

  test('SIGTERM reaches node itself: the images run node behind tini, never through npm', () => {
    for (const [dockerfile, services] of [
      ['gateway/Dockerfile', [...gatewayServices, 'worker']],
      ['node-agent/Dockerfile', ['node-agent']],
    ] as const) {
      const runtime = parseDockerfile(readRepoFile(dockerfile)).at(-1)!;
      const entrypoint = execForm(lastInstruction(runtime, 'ENTRYPOINT')?.args ?? '') ?? [];
      for (const name of services) {
        const svc = service(stack, name);
        expect({ name, initOrTini: svc.init === true || entrypoint.some((a) => a.endsWith('/tini')) }).toEqual({ name, initOrTini: true });
        expect(svc.command?.[0] ?? 'node').toBe('node');
      }
    }
  });

  test('Redis keeps its data: AOF on, noeviction, a named volume at /data, reachable from this host only', () => {
    const redis = service(stack, 'redis');
    const command = redis.command?.join(' ') ?? '';
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.volumes).toEqual(['redis-data:/data']);
    expect(stack.volumes).toHaveProperty('redis-data');
    for (const port of redis.ports ?? []) expect(byDefault(port)).toMatch(/^127\.0\.0\.1:\d+:6379$/);
  });

  test('only the edge faces clients: it alone publishes GATEWAY_PORT; no gateway, worker or node publishes a port', () => {
    expect(service(stack, 'edge').ports).toEqual(['${GATEWAY_PORT:-8080}:8080']);
    expect(byDefault(service(stack, 'edge').ports?.[0])).toBe('8080:8080');
    for (const name of [...gatewayServices, 'worker', 'node-agent']) expect({ name, ports: service(stack, name).ports }).toEqual({ name, ports: undefined });
    const published = Object.entries(stack.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, port: byDefault(p) })));
    expect(published.filter((p) => !p.port.startsWith('127.0.0.1:')).map((p) => p.name)).toEqual(['edge']);
  });

  test('state lives on named volumes where the processes write it: each gateway’s spool, the node’s credentials', () => {
    const gatewayImageEnv = Object.fromEntries(
      parseDockerfile(readRepoFile('gateway/Dockerfile'))
        .at(-1)!
        .instructions.filter((i) => i.keyword === 'ENV')
        .flatMap((i) => keyValues(i.args)),
    );
    for (const name of gatewayServices) {
      const svc = service(stack, name);
      const spool = svc.environment?.USAGE_SPOOL_DIR;
      expect(spool).toBe('/data/usage-spool');
      expect(mountTarget(svc, `${name}-spool`)).toBe(spool);
      expect(stack.volumes).toHaveProperty(`${name}-spool`);
      // The image makes the directory its user's, so a fresh named volume starts writable.
      expect(gatewayImageEnv.USAGE_SPOOL_DIR).toBe(spool);
    }
    const node = service(stack, 'node-agent');
    expect(mountTarget(node, 'node-credentials')).toBe(node.environment?.CREDENTIALS_DIR);
    expect(stack.volumes).toHaveProperty('node-credentials');
    const mounted = Object.values(stack.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]!).filter((v) => /^[a-z0-9][a-z0-9_-]*$/.test(v)));
    expect(Object.keys(stack.volumes ?? {}).sort()).toEqual([...new Set(mounted)].sort());
  });

  test('a stopping gateway or node finishes its streams: stop_grace_period outlasts DRAIN_TIMEOUT_MS by 10 s or more', () => {
    // DRAIN_TIMEOUT_MS passes through empty by default, so the schema's default is what runs.
    for (const name of gatewayServices) {
      const svc = service(stack, name);
      const grace = durationMs(byDefault(svc.stop_grace_period));
      const drain = effectiveMs(svc, 'DRAIN_TIMEOUT_MS', GatewayConfigSchema.shape.DRAIN_TIMEOUT_MS);
      expect({ name, margin: grace - drain >= 10_000 }).toEqual({ name, margin: true });
    }
    const node = service(stack, 'node-agent');
    expect(durationMs(byDefault(node.stop_grace_period))).toBeGreaterThanOrEqual(effectiveMs(node, 'DRAIN_TIMEOUT_MS', NodeConfigSchema.shape.DRAIN_TIMEOUT_MS) + 10_000);
    const worker = service(stack, 'worker');
    expect(durationMs(byDefault(worker.stop_grace_period))).toBeGreaterThan(effectiveMs(worker, 'WORKER_CLOSE_TIMEOUT_MS', WorkerConfigSchema.shape.WORKER_CLOSE_TIMEOUT_MS));
  });

  test('the stop budgets documented in .env.example are the ones compose applies', () => {
    const example = parseEnvExample(readRepoFile('.env.example'));
    expect(example.entries.get('STOP_GRACE_PERIOD')?.value).toBe(byDefault(service(stack, 'gateway-1').stop_grace_period));
    expect(example.entries.get('STOP_GRACE_PERIOD')?.value).toBe(byDefault(service(stack, 'node-agent').stop_grace_period));
    expect(example.entries.get('WORKER_STOP_GRACE_PERIOD')?.value).toBe(byDefault(service(stack, 'worker').stop_grace_period));
  });

  test('a draining gateway leaves the edge’s rotation before it stops listening (DRAIN_NOTICE_MS vs the health check)', () => {
    const interval = durationMs(/^\s*health_interval\s+(\S+)/m.exec(caddyfile)?.[1] ?? '');
    const timeout = durationMs(/^\s*health_timeout\s+(\S+)/m.exec(caddyfile)?.[1] ?? '');
    const gw = service(stack, 'gateway-1');
    const notice = effectiveMs(gw, 'DRAIN_NOTICE_MS', GatewayConfigSchema.shape.DRAIN_NOTICE_MS);
    expect(notice).toBeGreaterThan(interval + timeout);
    expect(notice).toBeLessThanOrEqual(effectiveMs(gw, 'DRAIN_TIMEOUT_MS', GatewayConfigSchema.shape.DRAIN_TIMEOUT_MS));
  });

  test('start order follows health: everything waits for a healthy Redis, the edge for both gateways', () => {
    for (const name of [...gatewayServices, 'worker', 'node-agent']) {
      expect(service(stack, name).depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
    expect(service(stack, 'edge').depends_on).toEqual({ 'gateway-1': { condition: 'service_healthy' }, 'gateway-2': { condition: 'service_healthy' } });
  });

  test('the containers find each other by service name: Redis, and the local node at its public URL', () => {
    for (const name of [...gatewayServices, 'worker', 'node-agent']) expect(byDefault(service(stack, name).environment?.REDIS_URL)).toBe('redis://redis:6379');
    const node = service(stack, 'node-agent');
    expect(node.environment?.NODE_PUBLIC_URL).toBe(`http://node-agent:${node.environment?.PORT}`);
  });

  test('a missing secret stops `docker compose up` with the variable’s name and where to set it', () => {
    const errors = new Set<string>();
    for (const svc of Object.values(stack.services)) {
      for (const value of Object.values(svc.environment ?? {})) {
        try {
          byDefault(value);
        } catch (err) {
          errors.add((err as Error).message);
        }
      }
    }
    const messages = [...errors].sort();
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/^required variable ADMIN_TOKEN is missing a value: set ADMIN_TOKEN in \.env .*openssl rand -hex 32/);
    expect(messages[1]).toMatch(/^required variable NODE_SHARED_SECRET is missing a value: set NODE_SHARED_SECRET in \.env /);
  });
});

describe('the edge (deploy/Caddyfile)', () => {
  const upstreams = /^\s*reverse_proxy\s+(.+?)\s*\{/m.exec(caddyfile)?.[1]?.split(/\s+/) ?? [];

  test('the edge mounts this Caddyfile and listens on the port compose publishes', () => {
    const edge = service(stack, 'edge');
    expect(edge.image).toMatch(/^caddy:2/);
    expect(edge.volumes).toContain('./deploy/Caddyfile:/etc/caddy/Caddyfile:ro');
    expect(caddyfile).toMatch(/^:8080 \{/m);
  });

  test('it proxies to both gateway replicas at their service names and PORT', () => {
    expect(upstreams).toEqual(gatewayServices.map((n) => `${n}:${service(stack, n).environment?.PORT}`));
  });

  test('it checks the gateways’ /health actively, retries a refused connection on the other one, and streams SSE unbuffered', () => {
    expect(caddyfile).toMatch(/^\s*health_uri \/health$/m);
    expect(caddyfile).toMatch(/^\s*health_status 200$/m);
    expect(caddyfile).toMatch(/^\s*flush_interval -1$/m);
    expect(durationMs(/^\s*lb_try_duration\s+(\S+)/m.exec(caddyfile)?.[1] ?? '')).toBeGreaterThan(0);
  });

  const caddy = spawnSync('caddy', ['version'], { encoding: 'utf8' });
  (caddy.status === 0 ? test : test.skip)('caddy itself reads it that way (`caddy adapt`; skipped when caddy is not installed)', () => {
    const adapted = spawnSync('caddy', ['adapt', '--config', join(REPO_ROOT, 'deploy/Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8' });
    expect(adapted.status).toBe(0);
    type Handler = { handler: string; upstreams: { dial: string }[]; flush_interval: number; health_checks: { active: { uri: string; interval: number } }; load_balancing: { try_duration: number } };
    const config = JSON.parse(adapted.stdout) as { apps: { http: { servers: Record<string, { listen: string[]; routes: { handle: Handler[] }[] }> } } };
    const [server] = Object.values(config.apps.http.servers);
    expect(server?.listen).toEqual([':8080']);
    const proxy = server?.routes.flatMap((r) => r.handle).find((h) => h.handler === 'reverse_proxy');
    expect(proxy?.upstreams.map((u) => u.dial)).toEqual(['gateway-1:8080', 'gateway-2:8080']);
    expect(proxy?.flush_interval).toBe(-1);
    expect(proxy?.health_checks.active.uri).toBe('/health');
    expect(proxy?.load_balancing.try_duration).toBeGreaterThan(0);
  });
});

describe('a node on another host (node-agent/docker-compose.yml)', () => {
  const node = service(nodeHost, 'node-agent');

  test('runs the node-agent, plus Watchtower only when the autoupdate profile is asked for', () => {
    expect(Object.keys(nodeHost.services).sort()).toEqual(['node-agent', 'watchtower']);
    expect(node.profiles).toBeUndefined();
    expect(service(nodeHost, 'watchtower').profiles).toEqual(['autoupdate']);
  });

  test('pulls the released image (a bare host has no checkout to build from)', () => {
    expect(node.image).toBe('${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-node-agent:${NODE_AGENT_TAG:-latest}');
    expect(node.build).toBeUndefined();
  });

  test('needs only Redis, NODE_PUBLIC_URL, NODE_SHARED_SECRET, a NODE_ID and the account', () => {
    const required = Object.values(node.environment ?? {})
      .flatMap((v) => interpolations(v))
      .filter((i) => i.op === ':?')
      .map((i) => i.name)
      .sort();
    expect(required).toEqual(['NODE_ID', 'NODE_PUBLIC_URL', 'NODE_SHARED_SECRET']);
    const env = { NODE_ID: 'node-b', NODE_PUBLIC_URL: 'http://10.0.0.5:8090', NODE_SHARED_SECRET: 'x'.repeat(32), REDIS_URL: 'redis://10.0.0.1:6379' };
    const resolved = Object.fromEntries(Object.entries(node.environment ?? {}).map(([k, v]) => [k, interpolate(v, env)]));
    expect(() => parseConfig(NodeConfigSchema, { ...resolved, CLAUDE_REFRESH_TOKEN: 'from-env' })).not.toThrow();
  });

  test('publishes the port the node listens on, and nothing else', () => {
    expect(node.ports).toEqual(['${PORT:-8090}:${PORT:-8090}']);
    expect(node.environment?.PORT).toBe('${PORT:-8090}');
    expect(service(nodeHost, 'watchtower').ports).toBeUndefined();
  });

  test('keeps its credentials on a named volume, takes a credentials file read-only, stays up and stops gracefully', () => {
    expect(mountTarget(node, 'node-credentials')).toBe(node.environment?.CREDENTIALS_DIR);
    expect(nodeHost.volumes).toHaveProperty('node-credentials');
    expect(node.volumes?.find((v) => v.endsWith(':/import:ro'))).toBeDefined();
    expect(node.restart).toBe('unless-stopped');
    expect(node.healthcheck?.test).toEqual(['CMD', 'node', 'node-agent/dist/healthcheck.js']);
    const grace = durationMs(byDefault(node.stop_grace_period));
    expect(grace).toBeGreaterThanOrEqual(effectiveMs(node, 'DRAIN_TIMEOUT_MS', NodeConfigSchema.shape.DRAIN_TIMEOUT_MS) + 10_000);
  });

  test('its Watchtower updates the node-agent only, and gives it the same time to drain', () => {
    const watchtower = service(nodeHost, 'watchtower');
    const env = watchtower.environment ?? {};
    expect(watchtower.image).toMatch(/nickfedor\/watchtower/);
    expect(env.WATCHTOWER_LABEL_ENABLE).toBe('true');
    const scope = env.WATCHTOWER_SCOPE;
    expect(scope).toBeTruthy();
    // Opted in: the node (enable=true, in scope). Every other service on the host: not enabled.
    expect(node.labels).toEqual({ 'com.centurylinklabs.watchtower.enable': 'true', 'com.centurylinklabs.watchtower.scope': scope });
    for (const [name, svc] of Object.entries(nodeHost.services)) {
      if (name !== 'node-agent') expect({ name, enable: svc.labels?.['com.centurylinklabs.watchtower.enable'] }).toEqual({ name, enable: 'false' });
    }
    expect(byDefault(env.WATCHTOWER_TIMEOUT)).toBe(byDefault(node.stop_grace_period));
    expect(Number(byDefault(env.WATCHTOWER_POLL_INTERVAL))).toBeGreaterThan(0);
    expect(interpolations(env.WATCHTOWER_POLL_INTERVAL ?? '').map((i) => i.name)).toEqual(['WATCHTOWER_POLL_INTERVAL']);
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['REPO_USER', 'REPO_PASS']));
    expect(watchtower.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(watchtower.healthcheck?.test?.length ?? 0).toBeGreaterThan(1);
    expect(watchtower.restart).toBe('unless-stopped');
  });
});

// Debian's docker-compose is v1 (1.29), which predates the top-level `name:`; everything else in these
// files is v1-compatible, so the check drops that one line and lets v1 interpolate and validate the rest.
const composeV1 = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
(composeV1.status === 0 ? describe : describe.skip)('docker-compose validates the files (skipped when docker-compose is not installed)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sy-compose-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `docker-compose config` on the file with `envFile` as its .env, and nothing from this process's environment. */
  function config(file: string, projectDir: string, envFile: string, profile?: string) {
    const stripped = join(dir, `${file.replace(/\W/g, '-')}.yml`);
    writeFileSync(stripped, readRepoFile(file).replace(/^name: .*\n/m, ''));
    const env = join(dir, `${file.replace(/\W/g, '-')}.env`);
    writeFileSync(env, envFile);
    const args = ['-f', stripped, '--project-directory', join(REPO_ROOT, projectDir), '--env-file', env, ...(profile ? ['--profile', profile] : []), 'config'];
    return spawnSync('docker-compose', args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
  }

  /** .env.example as an operator fills it in: the required values set, nothing else touched. */
  function filledIn(path: string, values: Record<string, string>): string {
    return readRepoFile(path).replace(/^([A-Z_]+)=$/gm, (line, key: string) => (key in values ? `${key}=${values[key]}` : line));
  }

  test('.env.example copied as is stops the stack with the missing secret’s name', () => {
    const result = config('docker-compose.yml', '.', readRepoFile('.env.example'));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/set (ADMIN_TOKEN|NODE_SHARED_SECRET) in \.env/);
  });

  test('with the secrets filled in, the stack is valid and each process gets its wiring', () => {
    const secret = 'x'.repeat(40);
    const result = config('docker-compose.yml', '.', filledIn('.env.example', { ADMIN_TOKEN: secret, NODE_SHARED_SECRET: secret }));
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
    const resolved = parseCompose(result.stdout);
    expect(resolved.services['gateway-2']?.environment).toMatchObject({ ADMIN_TOKEN: secret, REDIS_URL: 'redis://redis:6379', USAGE_SPOOL_DIR: '/data/usage-spool', DRAIN_NOTICE_MS: '5000' });
    expect(resolved.services['worker']?.command).toEqual(['node', 'gateway/dist/usage-worker/main.js']);
    expect(resolved.services['node-agent']?.environment).toMatchObject({ NODE_ID: 'node-local', NODE_PUBLIC_URL: 'http://node-agent:8090', NODE_SHARED_SECRET: secret });
    // v1 prints the published port as a number, v2 as a string.
    const ports = (resolved.services['edge']?.ports ?? []) as unknown as { published: number | string; target: number }[];
    expect(ports.map((p) => `${p.published}:${p.target}`)).toEqual(['8080:8080']);
  });

  test('a node host’s .env.example, filled in, gives a valid file with and without the autoupdate profile', () => {
    const values = { NODE_ID: 'node-b', NODE_PUBLIC_URL: 'http://10.0.0.5:8090', NODE_SHARED_SECRET: 'x'.repeat(40), REDIS_URL: 'redis://10.0.0.1:6379' };
    expect(config('node-agent/docker-compose.yml', 'node-agent', readRepoFile('node-agent/.env.example')).stderr).toMatch(/set NODE_(ID|PUBLIC_URL|SHARED_SECRET) in \.env/);
    for (const profile of [undefined, 'autoupdate']) {
      const result = config('node-agent/docker-compose.yml', 'node-agent', filledIn('node-agent/.env.example', values), profile);
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      expect(parseCompose(result.stdout).services['node-agent']?.environment).toMatchObject({ NODE_ID: 'node-b', PORT: '8090', REDIS_URL: values.REDIS_URL });
    }
  });
});
