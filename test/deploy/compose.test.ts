// The compose stack (docker-compose.yml), a node host's compose file (node-agent/docker-compose.yml) and the
// edge's Caddyfile, checked for what an operator relies on: which services run and how they stay up, where
// their state lives, that a stopping gateway or node finishes its streams before Docker kills it, that only
// the edge faces the world (plain HTTP, or HTTPS for a domain), that every node (the stack's own too) dials
// in through the edge holding nothing of the fleet's (no Redis, no shared secret, no published port), that
// the edge routes a tunnel to the replica it names, and that the node host's Watchtower can touch nothing but
// the node. No Docker engine here: the files are parsed; where Debian's docker-compose (v1) or caddy is
// installed, they also validate the files as Compose and Caddy read them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeTokens, parseConfig } from '@switchyard/shared';
import { GatewayConfigSchema } from '../../gateway/src/config.js';
import { WorkerConfigSchema } from '../../gateway/src/usage-worker/config.js';
import { NodeConfigSchema } from '../../node-agent/src/config.js';
import {
  interpolate,
  interpolations,
  parseCompose,
  parseEnvExample,
  readRepoFile,
  REPO_ROOT,
  schemaDefault,
  type ComposeService,
} from './compose-env.js';
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

/** The replicas' ids as the edge routes on them: each gateway service's GATEWAY_ID. */
function replicaId(name: string): string | undefined {
  return service(stack, name).environment?.GATEWAY_ID;
}

/** The default of a `{$VAR:default}` placeholder in the Caddyfile. */
function caddyDefault(variable: string): string {
  const m = new RegExp(`\\{\\$${variable}:([^}]*)\\}`).exec(caddyfile);
  if (!m) throw new Error(`the Caddyfile has no {$${variable}:…}`);
  return m[1]!;
}

/** The port a Caddy address listens on: ':8080' → 8080, 'http://:8081' → 8081. */
function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)?.[1] ?? NaN);
}

/** What a node host or the stack gives a variable that .env leaves alone, after the schema's default. */
function nodeValue(svc: ComposeService, key: keyof typeof NodeConfigSchema.shape): string {
  const fromCompose = byDefault(svc.environment?.[key]);
  if (fromCompose !== '') return fromCompose;
  const fromSchema = schemaDefault(NodeConfigSchema.shape[key]);
  return fromSchema.kind === 'value' ? fromSchema.value : '';
}

/** What a node must never hold: the fleet's Redis, or a secret shared across the fleet. */
const NOT_FOR_NODES =
  /^(REDIS_|UPSTASH_|NODE_SHARED_SECRET$|NODE_PUBLIC_URL$|HEARTBEAT_INTERVAL_MS$|ADMIN_TOKEN$|ADMIN_READ_TOKEN$)/;

/** Each replica's admin listener as published on the host: its loopback, a port of its own, onto ADMIN_PORT. */
const ADMIN_PUBLISHED = {
  'gateway-1': '127.0.0.1:${ADMIN_HOST_PORT:-9090}:9090',
  'gateway-2': '127.0.0.1:${ADMIN_HOST_PORT_2:-9091}:9090',
} as const;

/** The host address a compose port mapping binds ('' when it names none: every address). */
function hostAddress(mapping: string): string {
  const parts = mapping.split(':');
  return parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
}

describe('the stack (docker-compose.yml)', () => {
  test('runs Redis, the edge, two gateway replicas, the usage worker and one node', () => {
    expect(Object.keys(stack.services).sort()).toEqual([
      'edge',
      'gateway-1',
      'gateway-2',
      'node-agent',
      'redis',
      'worker',
    ]);
  });

  test('every service has a health check and comes back after a crash or a reboot', () => {
    for (const [name, svc] of Object.entries(stack.services)) {
      expect({ name, healthcheck: (svc.healthcheck?.test?.length ?? 0) > 1, restart: svc.restart }).toEqual({
        name,
        healthcheck: true,
        restart: 'unless-stopped',
      });
    }
  });

  test('the health checks run the images’ own scripts: /health on the gateways, the worker’s metrics listener, the node’s /health', () => {
    for (const name of gatewayServices)
      expect(service(stack, name).healthcheck?.test).toEqual(['CMD', 'node', 'gateway/dist/healthcheck.js', '/health']);
    expect(service(stack, 'worker').healthcheck?.test).toEqual([
      'CMD',
      'node',
      'gateway/dist/usage-worker/healthcheck.js',
    ]);
    expect(service(stack, 'node-agent').healthcheck?.test).toEqual(['CMD', 'node', 'node-agent/dist/healthcheck.js']);
    for (const script of [
      'gateway/src/healthcheck.ts',
      'gateway/src/usage-worker/healthcheck.ts',
      'node-agent/src/healthcheck.ts',
    ]) {
      expect(existsSync(join(REPO_ROOT, script))).toBe(true);
    }
  });

  test('the two gateway replicas are one definition: same image, environment and health check, each its own name, spool and admin port', () => {
    const [one, two] = gatewayServices.map((n) => service(stack, n));
    const { volumes: v1, environment: e1, ports: p1, ...rest1 } = one!;
    const { volumes: v2, environment: e2, ports: p2, ...rest2 } = two!;
    expect([p1, p2]).toEqual([[ADMIN_PUBLISHED['gateway-1']], [ADMIN_PUBLISHED['gateway-2']]]);
    expect(rest2).toEqual(rest1);
    const { GATEWAY_ID: id1, ...env1 } = e1 ?? {};
    const { GATEWAY_ID: id2, ...env2 } = e2 ?? {};
    expect(env2).toEqual(env1);
    expect([id1, id2]).toEqual(['gateway-1', 'gateway-2']);
    // The prices directory (PRICES_FILE, docs/COST.md) is the same read-only mount in both, and in the worker.
    const prices = '${PRICES_DIR:-./prices}:/prices:ro';
    expect(v1).toEqual(['gateway-1-spool:/data/usage-spool', prices]);
    expect(v2).toEqual(['gateway-2-spool:/data/usage-spool', prices]);
    expect(service(stack, 'worker').volumes).toEqual([prices]);
  });

  test('each replica’s GATEWAY_ID is a valid replica id, and announces no direct URL (nodes reach it through the edge)', () => {
    const dotEnv = { ADMIN_TOKEN: 'x'.repeat(40) };
    for (const name of gatewayServices) {
      const env = Object.fromEntries(
        Object.entries(service(stack, name).environment ?? {}).map(([k, v]) => [k, interpolate(v, dotEnv)]),
      );
      const config = parseConfig(GatewayConfigSchema, env);
      expect([config.GATEWAY_ID, config.GATEWAY_REPLICA_URL]).toEqual([name, undefined]);
    }
  });

  test('the gateways, the worker and the node run the released images, or build them from this checkout', () => {
    const gatewayImage = '${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-gateway:${GATEWAY_TAG:-latest}';
    for (const name of [...gatewayServices, 'worker']) {
      const svc = service(stack, name);
      expect(svc.image).toBe(gatewayImage);
      expect(svc.build).toMatchObject({ context: '.', dockerfile: 'gateway/Dockerfile' });
    }
    const node = service(stack, 'node-agent');
    expect(node.image).toBe(
      '${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-node-agent:${NODE_AGENT_TAG:-latest}',
    );
    expect(node.build).toMatchObject({ context: '.', dockerfile: 'node-agent/Dockerfile' });
    expect(byDefault(node.image)).toBe('ghcr.io/switchyard/switchyard-node-agent:latest');
    for (const dockerfile of ['gateway/Dockerfile', 'node-agent/Dockerfile'])
      expect(existsSync(join(REPO_ROOT, dockerfile))).toBe(true);
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
        expect({ name, initOrTini: svc.init === true || entrypoint.some((a) => a.endsWith('/tini')) }).toEqual({
          name,
          initOrTini: true,
        });
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

  test('only the edge faces the world: GATEWAY_PORT (plain HTTP, or ACME and the redirect) and HTTPS_PORT (loopback until a domain is set)', () => {
    const edge = service(stack, 'edge');
    expect(edge.ports).toEqual(['${GATEWAY_PORT:-8080}:8080', '${HTTPS_PORT:-127.0.0.1:8443}:8443']);
    expect(edge.ports?.map(byDefault)).toEqual(['8080:8080', '127.0.0.1:8443:8443']);
    for (const name of ['worker', 'node-agent'])
      expect({ name, ports: service(stack, name).ports }).toEqual({ name, ports: undefined });
    // Whatever ports .env picks, every other mapping binds this host's loopback.
    for (const dotEnv of [
      {},
      { ADMIN_HOST_PORT: '19090', ADMIN_HOST_PORT_2: '19091', REDIS_HOST_PORT: '16379' },
    ] as Record<string, string>[]) {
      const published = Object.entries(stack.services).flatMap(([name, s]) =>
        (s.ports ?? []).map((p) => ({ name, host: hostAddress(interpolate(p, dotEnv)) })),
      );
      expect(published.filter((p) => p.host !== '127.0.0.1').map((p) => p.name)).toEqual(['edge']);
    }
  });

  test('the admin plane has a listener of its own in each gateway (ADMIN_PORT), published on this host’s loopback only; the main port is not published', () => {
    const dotEnv = { ADMIN_TOKEN: 'x'.repeat(40), ADMIN_READ_TOKEN: 'y'.repeat(40) };
    const hostPorts = new Set<string>();
    for (const name of gatewayServices) {
      const svc = service(stack, name);
      const env = Object.fromEntries(
        Object.entries(svc.environment ?? {}).map(([k, v]) => [k, interpolate(v, dotEnv)]),
      );
      const config = parseConfig(GatewayConfigSchema, env);
      // All addresses inside the container, so the host's port mapping reaches it; a port apart from PORT.
      expect({ name, host: config.ADMIN_HOST, port: config.ADMIN_PORT, readToken: config.ADMIN_READ_TOKEN }).toEqual({
        name,
        host: '0.0.0.0',
        port: 9090,
        readToken: 'y'.repeat(40),
      });
      expect(config.ADMIN_PORT).not.toBe(config.PORT);
      expect(svc.environment?.ADMIN_READ_TOKEN).toBe('${ADMIN_READ_TOKEN:-}');
      for (const mapping of svc.ports ?? []) {
        const resolved = byDefault(mapping);
        expect({ name, host: hostAddress(resolved), target: Number(resolved.split(':').at(-1)) }).toEqual({
          name,
          host: '127.0.0.1',
          target: config.ADMIN_PORT,
        });
        hostPorts.add(resolved.split(':').at(-2)!);
      }
      expect((svc.ports ?? []).map(byDefault).some((p) => Number(p.split(':').at(-1)) === config.PORT)).toBe(false);
    }
    expect([...hostPorts].sort()).toEqual(['9090', '9091']);
  });

  test('the edge drops an idle connection to a gateway before the gateway does (keepalive below KEEP_ALIVE_TIMEOUT_MS)', () => {
    const keepalive = durationMs(/^\s*keepalive\s+(\S+)$/m.exec(caddyfile)?.[1] ?? '');
    expect(keepalive).toBeGreaterThan(0);
    for (const name of gatewayServices) {
      const gatewayIdle = effectiveMs(
        service(stack, name),
        'KEEP_ALIVE_TIMEOUT_MS',
        GatewayConfigSchema.shape.KEEP_ALIVE_TIMEOUT_MS,
      );
      expect({ name, margin: gatewayIdle - keepalive >= 5_000 }).toEqual({ name, margin: true });
    }
  });

  test('state lives on named volumes where the processes write it: each gateway’s spool, the node’s credentials, Caddy’s certificates', () => {
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
    expect(mountTarget(service(stack, 'edge'), 'caddy-data')).toBe('/data');
    const mounted = Object.values(stack.services).flatMap((s) =>
      (s.volumes ?? []).map((v) => v.split(':')[0]!).filter((v) => /^[a-z0-9][a-z0-9_-]*$/.test(v)),
    );
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
    expect(durationMs(byDefault(node.stop_grace_period))).toBeGreaterThanOrEqual(
      effectiveMs(node, 'DRAIN_TIMEOUT_MS', NodeConfigSchema.shape.DRAIN_TIMEOUT_MS) + 10_000,
    );
    const worker = service(stack, 'worker');
    expect(durationMs(byDefault(worker.stop_grace_period))).toBeGreaterThan(
      effectiveMs(worker, 'WORKER_CLOSE_TIMEOUT_MS', WorkerConfigSchema.shape.WORKER_CLOSE_TIMEOUT_MS),
    );
  });

  test('the stop budgets documented in .env.example are the ones compose applies', () => {
    const example = parseEnvExample(readRepoFile('.env.example'));
    expect(example.entries.get('STOP_GRACE_PERIOD')?.value).toBe(
      byDefault(service(stack, 'gateway-1').stop_grace_period),
    );
    expect(example.entries.get('STOP_GRACE_PERIOD')?.value).toBe(
      byDefault(service(stack, 'node-agent').stop_grace_period),
    );
    expect(example.entries.get('WORKER_STOP_GRACE_PERIOD')?.value).toBe(
      byDefault(service(stack, 'worker').stop_grace_period),
    );
  });

  test('a draining gateway leaves the edge’s rotation before it stops listening (DRAIN_NOTICE_MS vs the health check)', () => {
    const interval = durationMs(/^\s*health_interval\s+(\S+)/m.exec(caddyfile)?.[1] ?? '');
    const timeout = durationMs(/^\s*health_timeout\s+(\S+)/m.exec(caddyfile)?.[1] ?? '');
    const gw = service(stack, 'gateway-1');
    const notice = effectiveMs(gw, 'DRAIN_NOTICE_MS', GatewayConfigSchema.shape.DRAIN_NOTICE_MS);
    expect(notice).toBeGreaterThan(interval + timeout);
    expect(notice).toBeLessThanOrEqual(effectiveMs(gw, 'DRAIN_TIMEOUT_MS', GatewayConfigSchema.shape.DRAIN_TIMEOUT_MS));
  });

  test('start order follows health: the gateways and the worker wait for Redis, the edge for both gateways, the node for the edge', () => {
    for (const name of [...gatewayServices, 'worker']) {
      expect(service(stack, name).depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
    expect(service(stack, 'edge').depends_on).toEqual({
      'gateway-1': { condition: 'service_healthy' },
      'gateway-2': { condition: 'service_healthy' },
    });
    expect(service(stack, 'node-agent').depends_on).toEqual({ edge: { condition: 'service_healthy' } });
  });

  test('the gateways and the worker find Redis by service name', () => {
    for (const name of [...gatewayServices, 'worker'])
      expect(byDefault(service(stack, name).environment?.REDIS_URL)).toBe('redis://redis:6379');
  });

  test('the local node dials in through the edge’s internal listener, which reaches both replicas, and holds nothing of the fleet’s', () => {
    const node = service(stack, 'node-agent');
    const env = node.environment ?? {};
    const internal = caddyDefault('EDGE_INTERNAL_ADDRESS');
    expect(internal).toMatch(/^http:\/\/:\d+$/);
    expect(env.GATEWAY_URL).toBe(`http://edge:${portOf(internal)}`);
    // Plain HTTP to a compose service name: allowed explicitly (the node accepts it only from loopback or private addresses otherwise).
    expect(env.GATEWAY_ALLOW_HTTP).toBe('true');
    expect(Object.keys(env).filter((k) => NOT_FOR_NODES.test(k))).toEqual([]);
    // Its token comes from .env, but its absence does not stop the whole stack (the node is enrolled once the gateways run).
    expect(interpolations(env.NODE_TOKEN ?? '')).toEqual([
      { name: 'NODE_TOKEN', op: ':-', arg: '', raw: '${NODE_TOKEN:-}' },
    ]);
    expect(byDefault(env.NODE_ID)).toBe('node-local');
  });

  test('the local node shares a network with the edge alone: Redis, the gateways’ ports and their admin listeners are out of its reach', () => {
    // A service that names no network is on compose's default one.
    const on = (network: string) =>
      Object.entries(stack.services)
        .filter(([, s]) => (s.networks ?? ['default']).includes(network))
        .map(([name]) => name)
        .sort();
    expect(Object.keys(stack.networks ?? {})).toEqual(['nodes']);
    expect(service(stack, 'node-agent').networks).toEqual(['nodes']);
    expect(on('nodes')).toEqual(['edge', 'node-agent']);
    expect(on('default')).toEqual(['edge', 'gateway-1', 'gateway-2', 'redis', 'worker']);
  });

  test('the local node’s own listener (/health, /metrics) binds loopback inside its container, where the image’s health check probes it', () => {
    const node = service(stack, 'node-agent');
    expect(nodeValue(node, 'HOST')).toBe('127.0.0.1');
    expect(node.ports).toBeUndefined();
  });

  test('NODE_SHARED_SECRET is gone from the stack and its .env.example', () => {
    expect(stackText).not.toContain('NODE_SHARED_SECRET');
    expect(readRepoFile('.env.example')).not.toContain('NODE_SHARED_SECRET');
    expect(Object.keys(GatewayConfigSchema.shape)).not.toContain('NODE_SHARED_SECRET');
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
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /^required variable ADMIN_TOKEN is missing a value: set ADMIN_TOKEN in \.env .*openssl rand -hex 32/,
    );
  });
});

/** The paths the edge publishes (deploy/Caddyfile's @published): the client API, Claude Code's probes, the probes, the nodes'. */
const PUBLISHED_PATHS = ['/v1/*', '/_switchyard/*', '/health', '/ready', '/', '/api/hello'];

/** Paths of the admin plane and the scrapers', which must never reach a gateway through the edge. */
const UNPUBLISHED_PATHS = [
  '/admin',
  '/admin/',
  '/admin/keys',
  '/admin/nodes',
  '/admin/session',
  '/admin/openapi.json',
  '/dashboard',
  '/dashboard/',
  '/dashboard/index.html',
  '/metrics',
  '/ADMIN/keys',
  '/Metrics',
];

/** Caddy's path matcher for one pattern (exact, `prefix*`, `*suffix`, `*infix*`), case-insensitive as Caddy's is. */
function caddyPathMatches(pattern: string, path: string): boolean {
  const p = pattern.toLowerCase();
  const value = path.toLowerCase();
  const star = p.startsWith('*');
  const end = p.endsWith('*') && p.length > 1;
  if (star && end) return value.includes(p.slice(1, -1));
  if (star) return value.endsWith(p.slice(1));
  if (end) return value.startsWith(p.slice(0, -1));
  return value === p;
}

/** A snippet's body in the Caddyfile: from `(name) {` to its closing brace at the start of a line. */
function caddySnippet(name: string): string {
  const m = new RegExp(`^\\(${name}\\) \\{\\n([\\s\\S]*?)^\\}$`, 'm').exec(caddyfile);
  if (!m) throw new Error(`the Caddyfile has no snippet (${name})`);
  return m[1]!;
}

/** A reverse_proxy handler as `caddy adapt` prints it, with the request headers that lead to it. */
interface ProxyRoute {
  /** The x-switchyard-replica value the route requires, or undefined for any request. */
  replica: string | undefined;
  host: string[] | undefined;
  /** The path matcher on the way to it: what the edge publishes. */
  paths: string[] | undefined;
  dials: string[];
  flush: number | undefined;
  healthUri: string | undefined;
  tryDuration: number | undefined;
  deletes: string[];
  /** How long an idle connection to the gateway is kept for reuse (keepalive), in ms. */
  idleMs: number | undefined;
}

interface CaddyRoute {
  match?: { header?: Record<string, string[]>; host?: string[]; path?: string[] }[];
  handle?: CaddyHandler[];
}
interface CaddyHandler {
  handler: string;
  routes?: CaddyRoute[];
  upstreams?: { dial: string }[];
  flush_interval?: number;
  health_checks?: { active?: { uri?: string } };
  load_balancing?: { try_duration?: number };
  headers?: { request?: { delete?: string[] } };
  /** The `headers` handler's response headers. */
  response?: { set?: Record<string, string[]> };
  transport?: { keep_alive?: { idle_timeout?: number } };
  status_code?: number | string;
  body?: string;
}
interface CaddyServer {
  listen: string[];
  routes: CaddyRoute[];
  automatic_https?: { disable?: boolean };
}
interface CaddyConfig {
  admin?: { disabled?: boolean; listen?: string };
  apps: { http: { http_port?: number; https_port?: number; servers: Record<string, CaddyServer> } };
}

/** Every reverse_proxy of a server, in the order Caddy tries them, with the matchers on the way to it. */
function proxyRoutes(routes: CaddyRoute[], replica?: string, host?: string[], paths?: string[]): ProxyRoute[] {
  return routes.flatMap((route) => {
    const r = route.match?.[0]?.header?.['X-Switchyard-Replica']?.[0] ?? replica;
    const h = route.match?.[0]?.host ?? host;
    const p = route.match?.[0]?.path ?? paths;
    return (route.handle ?? []).flatMap((handler) => {
      if (handler.handler === 'subroute') return proxyRoutes(handler.routes ?? [], r, h, p);
      if (handler.handler !== 'reverse_proxy') return [];
      return [
        {
          replica: r,
          host: h,
          paths: p,
          dials: (handler.upstreams ?? []).map((u) => u.dial),
          flush: handler.flush_interval,
          healthUri: handler.health_checks?.active?.uri,
          tryDuration: handler.load_balancing?.try_duration,
          deletes: handler.headers?.request?.delete ?? [],
          idleMs:
            handler.transport?.keep_alive?.idle_timeout === undefined
              ? undefined
              : handler.transport.keep_alive.idle_timeout / 1e6,
        },
      ];
    });
  });
}

describe('the edge (deploy/Caddyfile)', () => {
  const edge = service(stack, 'edge');

  test('the edge mounts this Caddyfile, and keeps Caddy’s certificates on a volume', () => {
    expect(edge.image).toMatch(/^caddy:2/);
    expect(edge.volumes).toContain('./deploy/Caddyfile:/etc/caddy/Caddyfile:ro');
    expect(edge.volumes).toContain('caddy-data:/data');
  });

  test('the clients’ site is SITE_ADDRESS: plain HTTP on the port GATEWAY_PORT publishes unless a domain is set', () => {
    expect(caddyfile).toMatch(/^\{\$SITE_ADDRESS::8080\} \{$/m);
    // Caddy takes a variable set to '' as empty, not as unset: compose passes the default itself.
    expect(edge.environment?.SITE_ADDRESS).toBe('${SITE_ADDRESS:-:8080}');
    expect(portOf(byDefault(edge.environment?.SITE_ADDRESS))).toBe(8080);
    // A domain: Caddy listens for HTTP (ACME, redirect) on http_port and for HTTPS on https_port, which compose publishes.
    const httpPort = Number(/^\s*http_port\s+(\d+)$/m.exec(caddyfile)?.[1]);
    const httpsPort = Number(/^\s*https_port\s+(\d+)$/m.exec(caddyfile)?.[1]);
    expect(edge.ports?.map((p) => Number(p.split(':').at(-1)))).toEqual([httpPort, httpsPort]);
  });

  test('its internal listener, where the local node dials in and the edge’s health check probes, is not published', () => {
    const internal = portOf(caddyDefault('EDGE_INTERNAL_ADDRESS'));
    expect(edge.ports?.some((p) => Number(p.split(':').at(-1)) === internal)).toBe(false);
    expect(edge.healthcheck?.test).toEqual([
      'CMD',
      'wget',
      '-q',
      '-O',
      '/dev/null',
      `http://127.0.0.1:${internal}/health`,
    ]);
  });

  test('it routes a request naming a replica (x-switchyard-replica) to that replica, whose GATEWAY_ID it is', () => {
    for (const name of gatewayServices) {
      const id = replicaId(name);
      expect(caddyfile).toContain(`@${name} header X-Switchyard-Replica ${id}`);
      expect(caddyDefault(`GATEWAY_${name.split('-')[1]}_UPSTREAM`)).toBe(
        `${name}:${service(stack, name).environment?.PORT}`,
      );
    }
  });

  test('it checks the gateways’ /health actively, retries a refused connection on the other one, and streams SSE unbuffered', () => {
    expect(caddyfile).toMatch(/^\s*health_uri \/health$/m);
    expect(caddyfile).toMatch(/^\s*health_status 200$/m);
    expect(caddyfile).toMatch(/^\s*flush_interval -1$/m);
    expect(durationMs(/^\s*lb_try_duration\s+(\S+)/m.exec(caddyfile)?.[1] ?? '')).toBeGreaterThan(0);
  });

  test('it publishes the client API and the nodes’ paths only: every reverse_proxy sits behind @published, and the rest gets a 404 of its own', () => {
    const published = /^\s*@published path (.+)$/m.exec(caddyfile)?.[1]?.trim().split(/\s+/);
    expect(published).toEqual(PUBLISHED_PATHS);
    for (const path of UNPUBLISHED_PATHS)
      expect({ path, published: PUBLISHED_PATHS.some((p) => caddyPathMatches(p, path)) }).toEqual({
        path,
        published: false,
      });
    // The proxies live in the replicas snippet alone, imported once, inside `handle @published`.
    expect(caddyfile.match(/reverse_proxy/g)?.length).toBe(caddySnippet('replicas').match(/reverse_proxy/g)?.length);
    expect(caddyfile.match(/^\s*import replicas$/gm)).toHaveLength(1);
    const gateways = caddySnippet('gateways');
    expect(gateways).toMatch(
      /\n\thandle @published \{\n\t\timport replicas\n\t\}\n\thandle \{\n[^}]*respond `[^`]*` 404\n\t\}\n$/,
    );
    // Both sites serve that snippet and nothing else.
    expect(
      [...caddyfile.matchAll(/^\{\$(SITE_ADDRESS|EDGE_INTERNAL_ADDRESS):[^}]*\} \{\n\timport gateways\n\}$/gm)].map(
        (m) => m[1],
      ),
    ).toEqual(['SITE_ADDRESS', 'EDGE_INTERNAL_ADDRESS']);
  });

  test('it sets no stream timeout that would cut a long-lived tunnel', () => {
    const code = caddyfile
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    expect(code).not.toMatch(
      /\b(stream_timeout|read_timeout|write_timeout|idle_timeout|response_header_timeout|request_buffers|response_buffers)\b/,
    );
  });

  const caddy = spawnSync('caddy', ['version'], { encoding: 'utf8' });
  /** `caddy adapt` of the shipped file with the given environment (nothing else from this process's). */
  function adapt(env: Record<string, string> = {}): CaddyConfig {
    const adapted = spawnSync(
      'caddy',
      ['adapt', '--config', join(REPO_ROOT, 'deploy/Caddyfile'), '--adapter', 'caddyfile'],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...env },
      },
    );
    if (adapted.status !== 0) throw new Error(`caddy adapt failed: ${adapted.stderr}`);
    return JSON.parse(adapted.stdout) as CaddyConfig;
  }
  const serverOn = (config: CaddyConfig, port: number) =>
    Object.values(config.apps.http.servers).find((s) => s.listen.includes(`:${port}`));

  (caddy.status === 0 ? test : test.skip)(
    'caddy itself reads it that way (`caddy adapt`; skipped when caddy is not installed)',
    () => {
      const config = adapt();
      expect(config.admin?.listen).toBe('localhost:2019');
      expect(
        Object.values(config.apps.http.servers)
          .map((s) => s.listen)
          .sort(),
      ).toEqual([[':8080'], [':8081']]);
      for (const port of [8080, 8081]) {
        const routes = proxyRoutes(serverOn(config, port)?.routes ?? []);
        // The named replicas first, then either one.
        expect(routes.map((r) => [r.replica, r.dials])).toEqual([
          ['gateway-1', ['gateway-1:8080']],
          ['gateway-2', ['gateway-2:8080']],
          [undefined, ['gateway-1:8080', 'gateway-2:8080']],
        ]);
        for (const r of routes) {
          expect(r.flush).toBe(-1);
          expect(r.deletes.sort()).toEqual(['X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto']);
          // Only what the edge publishes reaches a gateway.
          expect(r.paths).toEqual(PUBLISHED_PATHS);
          // An idle connection is given up before the gateway's keep-alive timeout would close it under a request.
          expect(r.idleMs).toBeLessThan(
            effectiveMs(
              service(stack, 'gateway-1'),
              'KEEP_ALIVE_TIMEOUT_MS',
              GatewayConfigSchema.shape.KEEP_ALIVE_TIMEOUT_MS,
            ),
          );
        }
        expect(routes[2]?.healthUri).toBe('/health');
        expect(routes[2]?.tryDuration).toBeGreaterThan(0);
      }
    },
  );

  (caddy.status === 0 ? test : test.skip)(
    'as caddy reads it, a request for /admin, /dashboard or /metrics ends at the edge’s 404 envelope on both listeners',
    () => {
      const config = adapt();
      for (const port of [8080, 8081]) {
        const routes = serverOn(config, port)?.routes ?? [];
        // The top-level routes: the published paths to the proxies, then everything else to a static 404.
        expect(routes.map((r) => r.match?.[0]?.path)).toEqual([PUBLISHED_PATHS, undefined]);
        const fallback =
          routes[1]?.handle?.flatMap((h) =>
            h.handler === 'subroute' ? (h.routes ?? []).flatMap((r) => r.handle ?? []) : [h],
          ) ?? [];
        expect(fallback.map((h) => h.handler)).toEqual(['headers', 'static_response']);
        expect(fallback[0]?.response?.set).toEqual({ 'Content-Type': ['application/json'] });
        expect(Number(fallback[1]?.status_code)).toBe(404);
        expect(JSON.parse(fallback[1]?.body ?? '')).toEqual({
          type: 'error',
          error: { type: 'not_found_error', message: 'Not found' },
        });
        for (const path of UNPUBLISHED_PATHS)
          expect({
            port,
            path,
            reachesAProxy: proxyRoutes(routes).some((r) => (r.paths ?? ['*']).some((p) => caddyPathMatches(p, path))),
          }).toEqual({ port, path, reachesAProxy: false });
      }
    },
  );

  (caddy.status === 0 ? test : test.skip)(
    'with SITE_ADDRESS a domain, the site is HTTPS on https_port, and the internal listener stays plain HTTP',
    () => {
      const config = adapt({ SITE_ADDRESS: 'gw.example.com' });
      expect([config.apps.http.http_port, config.apps.http.https_port]).toEqual([8080, 8443]);
      const site = serverOn(config, 8443);
      expect(site?.automatic_https?.disable).toBeUndefined();
      const routes = proxyRoutes(site?.routes ?? []);
      expect(routes.map((r) => [r.host, r.replica, r.dials.length])).toEqual([
        [['gw.example.com'], 'gateway-1', 1],
        [['gw.example.com'], 'gateway-2', 1],
        [['gw.example.com'], undefined, 2],
      ]);
      expect(proxyRoutes(serverOn(config, 8081)?.routes ?? []).map((r) => r.replica)).toEqual([
        'gateway-1',
        'gateway-2',
        undefined,
      ]);
    },
  );
});

describe('a node on another host (node-agent/docker-compose.yml)', () => {
  const node = service(nodeHost, 'node-agent');

  test('runs the node-agent, plus Watchtower only when the autoupdate profile is asked for', () => {
    expect(Object.keys(nodeHost.services).sort()).toEqual(['node-agent', 'watchtower']);
    expect(node.profiles).toBeUndefined();
    expect(service(nodeHost, 'watchtower').profiles).toEqual(['autoupdate']);
  });

  test('pulls the released image (a bare host has no checkout to build from)', () => {
    expect(node.image).toBe(
      '${SWITCHYARD_REGISTRY:-ghcr.io/switchyard}/switchyard-node-agent:${NODE_AGENT_TAG:-latest}',
    );
    expect(node.build).toBeUndefined();
  });

  test('needs only GATEWAY_URL, NODE_ID, NODE_TOKEN and the account; a missing one names `switchyard nodes add`', () => {
    const required = Object.values(node.environment ?? {})
      .flatMap((v) => interpolations(v))
      .filter((i) => i.op === ':?');
    expect(required.map((i) => i.name).sort()).toEqual(['GATEWAY_URL', 'NODE_ID', 'NODE_TOKEN']);
    for (const i of required)
      expect(i.arg).toMatch(new RegExp(`^set ${i.name} in \\.env \\(.*\`switchyard nodes add <id>\``));
    const env = { GATEWAY_URL: 'https://gw.example.com', NODE_ID: 'node-b', NODE_TOKEN: NodeTokens.generate() };
    const resolved = Object.fromEntries(
      Object.entries(node.environment ?? {}).map(([k, v]) => [k, interpolate(v, env)]),
    );
    expect(() => parseConfig(NodeConfigSchema, { ...resolved, CLAUDE_REFRESH_TOKEN: 'from-env' })).not.toThrow();
  });

  test('holds no Redis credentials and no fleet-wide secret', () => {
    expect(Object.keys(node.environment ?? {}).filter((k) => NOT_FOR_NODES.test(k))).toEqual([]);
    expect(nodeHostText).not.toMatch(/REDIS|UPSTASH|NODE_SHARED_SECRET|NODE_PUBLIC_URL/);
    for (const key of Object.keys(NodeConfigSchema.shape))
      expect({ key, forNodes: !NOT_FOR_NODES.test(key) }).toEqual({ key, forNodes: true });
  });

  test('publishes no port: its own listener (/health, /metrics) binds loopback inside the container by default', () => {
    expect(node.ports).toBeUndefined();
    expect(node.environment?.HOST).toBe('${HOST:-}');
    expect(nodeValue(node, 'HOST')).toBe('127.0.0.1');
    expect(service(nodeHost, 'watchtower').ports).toBeUndefined();
  });

  test('keeps its credentials on a named volume, takes a credentials file read-only, stays up and stops gracefully', () => {
    expect(mountTarget(node, 'node-credentials')).toBe(node.environment?.CREDENTIALS_DIR);
    expect(nodeHost.volumes).toHaveProperty('node-credentials');
    expect(node.volumes?.find((v) => v.endsWith(':/import:ro'))).toBeDefined();
    expect(node.restart).toBe('unless-stopped');
    expect(node.healthcheck?.test).toEqual(['CMD', 'node', 'node-agent/dist/healthcheck.js']);
    const grace = durationMs(byDefault(node.stop_grace_period));
    expect(grace).toBeGreaterThanOrEqual(
      effectiveMs(node, 'DRAIN_TIMEOUT_MS', NodeConfigSchema.shape.DRAIN_TIMEOUT_MS) + 10_000,
    );
  });

  test('its Watchtower updates the node-agent only, and gives it the same time to drain', () => {
    const watchtower = service(nodeHost, 'watchtower');
    const env = watchtower.environment ?? {};
    expect(watchtower.image).toMatch(/nickfedor\/watchtower/);
    expect(env.WATCHTOWER_LABEL_ENABLE).toBe('true');
    const scope = env.WATCHTOWER_SCOPE;
    expect(scope).toBeTruthy();
    // Opted in: the node (enable=true, in scope). Every other service on the host: not enabled.
    expect(node.labels).toEqual({
      'com.centurylinklabs.watchtower.enable': 'true',
      'com.centurylinklabs.watchtower.scope': scope,
    });
    for (const [name, svc] of Object.entries(nodeHost.services)) {
      if (name !== 'node-agent')
        expect({ name, enable: svc.labels?.['com.centurylinklabs.watchtower.enable'] }).toEqual({
          name,
          enable: 'false',
        });
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
(composeV1.status === 0 ? describe : describe.skip)(
  'docker-compose validates the files (skipped when docker-compose is not installed)',
  () => {
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
      const args = [
        '-f',
        stripped,
        '--project-directory',
        join(REPO_ROOT, projectDir),
        '--env-file',
        env,
        ...(profile ? ['--profile', profile] : []),
        'config',
      ];
      return spawnSync('docker-compose', args, {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      });
    }

    /** .env.example as an operator fills it in: the required values set, nothing else touched. */
    function filledIn(path: string, values: Record<string, string>): string {
      return readRepoFile(path).replace(/^([A-Z_]+)=$/gm, (line, key: string) =>
        key in values ? `${key}=${values[key]}` : line,
      );
    }

    /** v1 prints a published port as a map (`{published, target}`) or, with a host address, as a string. */
    function ports(svc: ComposeService | undefined): string[] {
      const raw = (svc?.ports ?? []) as unknown as ({ published: number | string; target: number } | string)[];
      return raw.map((p) => (typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.published}:${p.target}`));
    }

    test('.env.example copied as is stops the stack with the missing secret’s name', () => {
      const result = config('docker-compose.yml', '.', readRepoFile('.env.example'));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/set ADMIN_TOKEN in \.env/);
    });

    test('with the admin token filled in, the stack is valid and each process gets its wiring', () => {
      const secret = 'x'.repeat(40);
      const result = config('docker-compose.yml', '.', filledIn('.env.example', { ADMIN_TOKEN: secret }));
      expect(result.stderr).not.toMatch(/ERROR/);
      expect(result.status).toBe(0);
      const resolved = parseCompose(result.stdout);
      expect(resolved.services['gateway-2']?.environment).toMatchObject({
        ADMIN_TOKEN: secret,
        GATEWAY_ID: 'gateway-2',
        REDIS_URL: 'redis://redis:6379',
        USAGE_SPOOL_DIR: '/data/usage-spool',
        DRAIN_NOTICE_MS: '5000',
      });
      expect(resolved.services['gateway-1']?.environment).toMatchObject({
        GATEWAY_ID: 'gateway-1',
        ADMIN_HOST: '0.0.0.0',
        ADMIN_PORT: '9090',
        ADMIN_READ_TOKEN: '',
      });
      expect(ports(resolved.services['gateway-1'])).toEqual(['127.0.0.1:9090:9090']);
      expect(ports(resolved.services['gateway-2'])).toEqual(['127.0.0.1:9091:9090']);
      expect(resolved.services['worker']?.command).toEqual(['node', 'gateway/dist/usage-worker/main.js']);
      expect(Object.keys(resolved.services['node-agent']?.networks ?? {})).toEqual(['nodes']);
      const nodeEnv = resolved.services['node-agent']?.environment ?? {};
      expect(nodeEnv).toMatchObject({
        NODE_ID: 'node-local',
        GATEWAY_URL: 'http://edge:8081',
        GATEWAY_ALLOW_HTTP: 'true',
        HOST: '127.0.0.1',
        NODE_TOKEN: '',
      });
      expect(Object.keys(nodeEnv).filter((k) => NOT_FOR_NODES.test(k))).toEqual([]);
      expect(resolved.services['edge']?.environment).toEqual({ SITE_ADDRESS: ':8080' });
      expect(ports(resolved.services['edge'])).toEqual(['8080:8080', '127.0.0.1:8443:8443']);
    });

    test('with a domain, the edge gets it and publishes 80 and 443', () => {
      const values = { ADMIN_TOKEN: 'x'.repeat(40), NODE_TOKEN: 'placeholder' };
      const text = `${filledIn('.env.example', values)}\nSITE_ADDRESS=gw.example.com\nGATEWAY_PORT=80\nHTTPS_PORT=443\n`;
      const result = config('docker-compose.yml', '.', text);
      expect(result.status).toBe(0);
      const resolved = parseCompose(result.stdout);
      expect(resolved.services['edge']?.environment).toEqual({ SITE_ADDRESS: 'gw.example.com' });
      expect(ports(resolved.services['edge'])).toEqual(['80:8080', '443:8443']);
    });

    test('a node host’s .env.example, filled in, gives a valid file with and without the autoupdate profile', () => {
      const values = { GATEWAY_URL: 'https://gw.example.com', NODE_ID: 'node-b', NODE_TOKEN: 'placeholder' };
      expect(
        config('node-agent/docker-compose.yml', 'node-agent', readRepoFile('node-agent/.env.example')).stderr,
      ).toMatch(/set (GATEWAY_URL|NODE_ID|NODE_TOKEN) in \.env/);
      for (const profile of [undefined, 'autoupdate']) {
        const result = config(
          'node-agent/docker-compose.yml',
          'node-agent',
          filledIn('node-agent/.env.example', values),
          profile,
        );
        expect(result.stderr).not.toMatch(/ERROR/);
        expect(result.status).toBe(0);
        const resolved = parseCompose(result.stdout).services['node-agent'];
        expect(resolved?.environment).toMatchObject(values);
        expect(resolved?.ports).toBeUndefined();
      }
    });
  },
);
