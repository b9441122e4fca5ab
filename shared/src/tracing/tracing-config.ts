import { z } from 'zod';
import { url, withHint } from '../config/env-types.js';

/** OTEL_TRACES_SAMPLER's values (the OpenTelemetry SDK environment specification). */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

const otlpUrl = () =>
  withHint(url(['http:', 'https:']).optional(), "the collector's OTLP/HTTP address, e.g. http://otel-collector:4318");

/**
 * The standard OpenTelemetry variables every process reads (spread into its config schema). Tracing is on when an
 * OTLP endpoint is set and OTEL_SDK_DISABLED is not `true`; the SDK itself reads these and the other
 * `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression, certificates) and OTEL_SERVICE_NAME when it
 * starts. These are parsed here too so a typo fails at start with the variable's name instead of the SDK quietly
 * falling back. OTEL_SERVICE_NAME is not among them: each process has its own default name, so one `.env` shared
 * by the stack's services must not set it (docs/TRACING.md).
 */
export const TracingEnvShape = {
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl(),
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).optional(),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  OTEL_TRACES_SAMPLER: withHint(z.enum(TRACES_SAMPLERS).optional(), `one of ${TRACES_SAMPLERS.join(', ')}`),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
} as const;

export type TracingEnv = { [K in keyof typeof TracingEnvShape]: z.infer<(typeof TracingEnvShape)[K]> };

/** Whether this process exports traces, and where (for the start-up log line; the SDK reads the rest itself). */
export interface TracingConfig {
  enabled: boolean;
  /** The traces endpoint's origin (no path, no credentials), for the log. */
  collector: string | undefined;
}

/** Tracing on or off, from the parsed OTEL_* variables. */
export function tracingConfigOf(env: Partial<TracingEnv>): TracingConfig {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const enabled = endpoint !== undefined && env.OTEL_SDK_DISABLED !== 'true';
  return { enabled, collector: enabled && endpoint !== undefined ? new URL(endpoint).origin : undefined };
}
