// Where a process serves /metrics and behind which token, decided once from its config (pure).

/** How a process exposes /metrics: not at all, on its main listener, or on a listener of its own. */
export type MetricsExposure =
  | { where: 'off'; reason: string }
  | { where: 'main'; token: string; tokenVariable: string }
  | { where: 'own'; port: number; token?: string; tokenVariable?: string };

/** The inputs of {@link planMetrics}: the process's METRICS_* values and its policy. */
export interface MetricsPlanInput {
  /** METRICS_PORT as configured (undefined: unset). */
  port: number | undefined;
  /** METRICS_TOKEN as configured. */
  token: string | undefined;
  /** The port used when METRICS_PORT is unset (the worker, which has no main listener); else /metrics goes on the main listener. */
  defaultPort?: number;
}

/**
 * METRICS_PORT=0 turns metrics off. A METRICS_PORT of its own serves /metrics there, behind METRICS_TOKEN
 * when one is set (a separate port is meant to be reachable by the scraper only). Unset, /metrics shares
 * the main listener and always needs METRICS_TOKEN, else it stays off: no other token stands in for it, so
 * a scraper never holds more than the right to scrape.
 * @example
 * planMetrics({ port: undefined, token: undefined }) // off: set METRICS_TOKEN or METRICS_PORT
 */
export function planMetrics(input: MetricsPlanInput): MetricsExposure {
  const port = input.port ?? input.defaultPort;
  if (port === 0) return { where: 'off', reason: 'METRICS_PORT=0' };
  if (port !== undefined)
    return input.token === undefined
      ? { where: 'own', port }
      : { where: 'own', port, token: input.token, tokenVariable: 'METRICS_TOKEN' };
  if (input.token !== undefined) return { where: 'main', token: input.token, tokenVariable: 'METRICS_TOKEN' };
  return {
    where: 'off',
    reason: 'set METRICS_TOKEN to serve /metrics on the main port, or METRICS_PORT for a listener of its own',
  };
}

/** One phrase for a start line, naming the token variable only: e.g. `http://0.0.0.0:8080/metrics (token: ADMIN_TOKEN)`. */
export function describeMetrics(exposure: MetricsExposure, host: string, mainPort?: number): string {
  if (exposure.where === 'off') return `off (${exposure.reason})`;
  const port = exposure.where === 'own' ? exposure.port : mainPort;
  const at = `http://${host.includes(':') ? `[${host}]` : host}:${port ?? '?'}/metrics`;
  if (exposure.tokenVariable === undefined) return `${at} (no token: keep the port private to the scraper)`;
  return `${at} (token: ${exposure.tokenVariable})`;
}
