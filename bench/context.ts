// What every scenario gets: the running stack, the two ways in, the bodies, the counts.
import { claudeCodeBody, claudeCodeHeaders, smallBody } from './bodies.js';
import { createTarget, type Route, type Target } from './client.js';
import type { Counts } from './options.js';
import { cpuSnapshot, type CpuSnapshot } from './proc-stats.js';
import type { BenchStack } from './stack.js';

/** One body and the headers Claude Code sends with it. */
export interface Payload {
  label: string;
  body: Buffer;
  headers: Record<string, string>;
}

/** Shared by the scenarios. */
export interface BenchContext {
  stack: BenchStack;
  counts: Counts;
  small: Payload;
  large: Payload;
  /** A target for `route` with its own keep-alive agent of `maxSockets` sockets. */
  target(route: Route, maxSockets: number): Target;
  /** Requests sent through the gateway so far (what the usage worker must count). */
  chainRequestsSent(): number;
  /** CPU used so far by the bench, the fake, the gateway, the node, the worker and (if local) Redis. */
  cpu(): CpuSnapshot;
  log(line: string): void;
}

/**
 * Builds the context; targets made through it are remembered so their requests can be counted and
 * their agents closed.
 */
export function createContext(
  stack: BenchStack,
  counts: Counts,
  log: (line: string) => void,
): BenchContext & { close(): void } {
  const targets: Target[] = [];
  const small: Payload = {
    label: '1 KB',
    body: smallBody({ sessionId: 'bench-1kb' }),
    headers: claudeCodeHeaders('bench-1kb'),
  };
  const large: Payload = {
    label: '1 MB',
    body: claudeCodeBody({ targetBytes: 1 << 20, sessionId: 'bench-1mb', seed: 1 }),
    headers: claudeCodeHeaders('bench-1mb'),
  };
  return {
    stack,
    counts,
    small,
    large,
    target(route, maxSockets) {
      const t =
        route === 'direct'
          ? createTarget('direct', stack.fake.url, { 'x-api-key': stack.fakeApiKey }, maxSockets)
          : createTarget('chain', stack.gatewayUrl, { authorization: `Bearer ${stack.gatewayKey}` }, maxSockets);
      targets.push(t);
      return t;
    },
    chainRequestsSent: () => targets.filter((t) => t.route === 'chain').reduce((n, t) => n + t.sent, 0),
    cpu: () =>
      cpuSnapshot({
        fake: stack.fake.pid,
        gateway: stack.gateway.pid,
        node: stack.node.pid,
        worker: stack.worker.pid,
        redis: stack.redisPid,
      }),
    log,
    close() {
      for (const t of targets) t.agent.destroy();
    },
  };
}
