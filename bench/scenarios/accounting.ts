// Accounting after the run: the usage worker counted every request sent through the gateway, and the
// gateway process never loaded js-tiktoken (nor the worker's code).
import { createKeyspace } from '@switchyard/shared';
import type { BenchContext } from '../context.js';

/** What the accounting check found. */
export interface AccountingResult {
  chainRequests: number;
  /** `usage:total` requests once it stopped growing (or reached chainRequests). */
  counted: number;
  complete: boolean;
  /** How long after the last request the count was complete (or the wait gave up). */
  waitedMs: number;
  /** The module trace covered the gateway process (it saw its entry point and BullMQ). */
  traceCoversGateway: boolean;
  /** Modules of js-tiktoken or the usage worker the gateway resolved (none expected). */
  tokenizerModulesInGateway: string[];
  /** Packages of the OpenTelemetry SDK or its exporter the gateway resolved (none unless the run traces: --otel). */
  tracingSdkModulesInGateway: string[];
  /** The run traced (--otel): then the SDK is expected. */
  tracing: boolean;
}

// What tracing loads only when it is on (docs/TRACING.md); @opentelemetry/api is loaded either way.
const TRACING_SDK = /@opentelemetry\/(sdk-|exporter-|otlp-|resources|core)/;

/**
 * Waits (up to `counts.accountingWaitMs`) for `usage:total` to reach the number of chain requests.
 * @example
 * const r = await accounting(ctx);
 */
export async function accounting(ctx: BenchContext): Promise<AccountingResult> {
  const { stack } = ctx;
  const expected = ctx.chainRequestsSent();
  const key = createKeyspace(stack.prefix).usageAllTime();
  const started = performance.now();
  let counted = 0;
  while (performance.now() - started < ctx.counts.accountingWaitMs) {
    counted = Number((await stack.redis.hget(key, 'requests')) ?? 0);
    if (counted >= expected) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const modules = stack.gatewayModules();
  return {
    chainRequests: expected,
    counted,
    complete: counted === expected,
    waitedMs: Math.round(performance.now() - started),
    traceCoversGateway:
      modules.some((m) => m.includes('gateway/dist/main.js')) && modules.some((m) => m.includes('/bullmq/')),
    tokenizerModulesInGateway: modules.filter((m) => m.includes('js-tiktoken') || m.includes('usage-worker')),
    // By package: a traced run resolves a few hundred files of them.
    tracingSdkModulesInGateway: [
      ...new Set(modules.filter((m) => TRACING_SDK.test(m)).map((m) => /@opentelemetry\/[^/]+/.exec(m)?.[0] ?? m)),
    ],
    tracing: stack.tracing,
  };
}
