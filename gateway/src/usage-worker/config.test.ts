// The worker's tracing settings: off without an OTLP endpoint, and a typo in an OTEL_* variable stops the start
// naming it, instead of the SDK quietly falling back to its default.
import { parseConfig, type ConfigError } from '@switchyard/shared';
import { WorkerConfigSchema, workerConfigOf } from './config.js';

const parse = (env: Record<string, string>) => workerConfigOf(parseConfig(WorkerConfigSchema, env));

describe('worker config: tracing (OTEL_*)', () => {
  it('is off without an OTLP endpoint, on with one, off again with OTEL_SDK_DISABLED=true', () => {
    expect(parse({}).tracing).toEqual({ enabled: false, collector: undefined });
    expect(parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318' }).tracing).toEqual({
      enabled: true,
      collector: 'http://otel-collector:4318',
    });
    expect(
      parse({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing.enabled,
    ).toBe(false);
  });

  it('refuses a sampler that is not one, naming OTEL_TRACES_SAMPLER and the samplers there are', () => {
    let problems: string[] = [];
    try {
      parse({ OTEL_TRACES_SAMPLER: 'sometimes' });
    } catch (err) {
      problems = (err as ConfigError).problems.map((p) => p.variable);
    }
    expect(problems).toEqual(['OTEL_TRACES_SAMPLER']);
    expect(() => parse({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
      /OTEL_TRACES_SAMPLER: .*parentbased_traceidratio/,
    );
  });
});
