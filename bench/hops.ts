// Where a chain request's time goes, from the processes' own access log lines (LOG_LEVEL=info writes
// one per request in the gateway and in the node), joined on the upstream's request id.
import { readFileSync } from 'node:fs';
import type { Exchange } from './client.js';
import { summarize, type Summary } from './stats.js';

/** Per-request differences, summarised. */
export interface HopBreakdown {
  /** Requests found in both logs. */
  matched: number;
  /** The client's whole response time. */
  clientMs: Summary;
  /** The gateway's durationMs (request in → response ended). */
  gatewayMs: Summary;
  /** The node's durationMs. */
  nodeMs: Summary;
  /** client − gateway: the client ↔ gateway legs and what happens before and after the gateway's clock. */
  outsideGatewayMs: Summary;
  /** gateway − node: the gateway's own work and the gateway ↔ node legs. */
  gatewayOwnMs: Summary;
  /** node − the direct route's p50: the node's own work and the node ↔ upstream legs, beyond a direct request. */
  nodeOverDirectMs: Summary;
}

function durations(file: string, message: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(`"message":"${message}"`)) continue;
    try {
      const entry = JSON.parse(line) as { upstreamRequestId?: unknown; durationMs?: unknown };
      if (typeof entry.upstreamRequestId === 'string' && typeof entry.durationMs === 'number')
        out.set(entry.upstreamRequestId, entry.durationMs);
    } catch {
      // A line cut by a crash is no evidence either way.
    }
  }
  return out;
}

/**
 * Joins the chain requests of a scenario with the gateway's and the node's log lines.
 * @example
 * const hops = hopBreakdown({ gatewayLog, nodeLog }, chainExchanges, comparison.direct.p50);
 */
export function hopBreakdown(
  logs: { gatewayLog: string; nodeLog: string },
  chain: Exchange[],
  directP50: number,
): HopBreakdown {
  const gateway = durations(logs.gatewayLog, 'request');
  const node = durations(logs.nodeLog, 'request done');
  const rows: { client: number; gateway: number; node: number }[] = [];
  for (const x of chain) {
    const id = x.upstreamRequestId;
    const g = id === undefined ? undefined : gateway.get(id);
    const n = id === undefined ? undefined : node.get(id);
    if (g !== undefined && n !== undefined) rows.push({ client: x.totalMs, gateway: g, node: n });
  }
  return {
    matched: rows.length,
    clientMs: summarize(rows.map((r) => r.client)),
    gatewayMs: summarize(rows.map((r) => r.gateway)),
    nodeMs: summarize(rows.map((r) => r.node)),
    outsideGatewayMs: summarize(rows.map((r) => r.client - r.gateway)),
    gatewayOwnMs: summarize(rows.map((r) => r.gateway - r.node)),
    nodeOverDirectMs: summarize(rows.map((r) => r.node - directP50)),
  };
}
