// The images' HEALTHCHECK commands: one GET to the process's own listener inside the container, the
// verdict as an exit code (Docker reads 0 as healthy and 1 as unhealthy).
import http from 'node:http';

/** What {@link probeHealth} asks for. */
export interface HealthProbe {
  /** The address the process binds (its HOST); a wildcard is probed on loopback. */
  host: string;
  port: number;
  path: string;
  /** Sent as `Authorization: Bearer <token>` (a metrics listener behind METRICS_TOKEN). */
  token?: string;
  /** Gives up after this long; Docker's own --timeout is only a backstop. Default 3 s. */
  timeoutMs?: number;
}

/** The probe's outcome: healthy only on a 200. */
export interface HealthVerdict {
  healthy: boolean;
  /** One line for `docker inspect`'s health log. */
  line: string;
}

/** Where to connect for a process bound to `host`: 0.0.0.0, :: or nothing mean every interface, so loopback. */
export function probeAddress(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * GETs the path and reads the status; never throws.
 * @example
 * const { healthy, line } = await probeHealth({ host: config.HOST, port: config.PORT, path: '/health' });
 */
export function probeHealth(probe: HealthProbe): Promise<HealthVerdict> {
  const host = probeAddress(probe.host);
  const target = `http://${host.includes(':') ? `[${host}]` : host}:${probe.port}${probe.path}`;
  return new Promise((resolve) => {
    const req = http.get(
      {
        host,
        port: probe.port,
        path: probe.path,
        timeout: probe.timeoutMs ?? 3_000,
        headers: probe.token === undefined ? {} : { authorization: `Bearer ${probe.token}` },
      },
      (res) => {
        res.resume();
        const healthy = res.statusCode === 200;
        resolve({
          healthy,
          line: `${healthy ? 'healthy' : 'unhealthy'}: GET ${target} answered ${res.statusCode ?? '?'}`,
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${probe.timeoutMs ?? 3_000} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ healthy: false, line: `unhealthy: GET ${target} failed: ${err.code ?? err.message}` }),
    );
  });
}

/** Runs a probe as a process's whole job: prints its line, exits 0 when healthy and 1 otherwise. */
export async function runHealthcheck(probe: HealthProbe): Promise<never> {
  const { healthy, line } = await probeHealth(probe);
  (healthy ? process.stdout : process.stderr).write(`${line}\n`);
  return process.exit(healthy ? 0 : 1);
}
