// `npm run demo -- [flags]`: flags first, then DEMO_* variables, then defaults.
import { REDIS_PREFIX_PATTERN } from '@switchyard/shared';
import { DemoError } from './demo-error.js';

export const DEMO_USAGE = `usage: npm run demo -- [--port 8080] [--prefix sy-demo:] [--log-dir DIR] [--otel URL] [--verbose]
  --port N       the gateway's port (DEMO_PORT; default 8080; a free port is used if it is taken)
  --prefix P     the Redis key prefix, cleared at start and at exit (DEMO_REDIS_PREFIX; default sy-demo:)
  --log-dir DIR  where the processes' logs go (DEMO_LOG_DIR; default a new directory under the temp dir)
  --otel URL     export traces from every process to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318
                 (DEMO_OTEL_ENDPOINT; default off; see docs/TRACING.md)
  --verbose      stream every process's log here too (DEMO_VERBOSE=1)
  Redis: REDIS_URL if set, else DEMO_LOCAL_REDIS (host:port, default 127.0.0.1:6379) if it answers,
  else a redis-server from PATH started for the demo.`;

export interface DemoOptions {
  port: number;
  prefix: string;
  verbose: boolean;
  logDir: string | undefined;
  /** The OTLP/HTTP collector every process exports traces to, or undefined (tracing off). */
  otelEndpoint: string | undefined;
  redisUrl: string | undefined;
  localRedis: { host: string; port: number };
  help: boolean;
}

function portNumber(raw: string, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw new DemoError(`switchyard demo: ${what} wants a port (1-65535), got "${raw}".`);
  return n;
}

function readFlags(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--verbose' || arg === '-v' || arg === '--help' || arg === '-h') {
      flags.set(
        arg.replace(/^-(\w)$/, (_m, c: string) => ({ v: '--verbose', h: '--help' })[c] ?? arg),
        'true',
      );
      continue;
    }
    const [name, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!['--port', '--prefix', '--log-dir', '--otel'].includes(name))
      throw new DemoError(`switchyard demo: unknown option ${arg} (npm run demo -- --help lists them).`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new DemoError(`switchyard demo: ${name} needs a value.`);
    flags.set(name, value);
  }
  return flags;
}

/** Parses argv (without node and the script) and the environment; throws DemoError with one line on a bad value. */
export function parseDemoOptions(argv: string[], env: NodeJS.ProcessEnv): DemoOptions {
  const flags = readFlags(argv);
  const rawPort = flags.get('--port') ?? env.DEMO_PORT;
  const prefix = flags.get('--prefix') ?? env.DEMO_REDIS_PREFIX ?? 'sy-demo:';
  if (!REDIS_PREFIX_PATTERN.test(prefix))
    throw new DemoError(
      `switchyard demo: the prefix "${prefix}" must be letters, digits, _ . - : and end with a single ":".`,
    );
  const local = env.DEMO_LOCAL_REDIS ?? '127.0.0.1:6379';
  const match = /^(.+):(\d+)$/.exec(local);
  if (!match) throw new DemoError(`switchyard demo: DEMO_LOCAL_REDIS wants host:port, got "${local}".`);
  const redisUrl = env.REDIS_URL === undefined || env.REDIS_URL === '' ? undefined : env.REDIS_URL;
  if (redisUrl !== undefined && !URL.canParse(redisUrl))
    throw new DemoError('switchyard demo: REDIS_URL is not a URL (want redis://host:port or rediss://…).');
  if (redisUrl !== undefined && !['redis:', 'rediss:'].includes(new URL(redisUrl).protocol)) {
    throw new DemoError('switchyard demo: REDIS_URL must start with redis:// or rediss://.');
  }
  const rawOtel = flags.get('--otel') ?? (env.DEMO_OTEL_ENDPOINT || undefined);
  if (rawOtel !== undefined && !(URL.canParse(rawOtel) && ['http:', 'https:'].includes(new URL(rawOtel).protocol)))
    throw new DemoError(
      `switchyard demo: ${flags.has('--otel') ? '--otel' : 'DEMO_OTEL_ENDPOINT'} wants the collector's OTLP/HTTP URL (http://host:4318), got "${rawOtel}".`,
    );
  const verbose = flags.has('--verbose') || ['1', 'true', 'yes'].includes((env.DEMO_VERBOSE ?? '').toLowerCase());
  return {
    port:
      rawPort === undefined || rawPort === ''
        ? 8080
        : portNumber(rawPort, flags.has('--port') ? '--port' : 'DEMO_PORT'),
    prefix,
    verbose,
    logDir: flags.get('--log-dir') ?? (env.DEMO_LOG_DIR || undefined),
    otelEndpoint: rawOtel,
    redisUrl,
    localRedis: { host: match[1] ?? '127.0.0.1', port: portNumber(match[2] ?? '', 'DEMO_LOCAL_REDIS') },
    help: flags.has('--help'),
  };
}
