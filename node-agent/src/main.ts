// The node-agent's composition root: config → tracing (when on) → egress → account → state reports, gate →
// forwarding server → local listener → tunnels to the gateway. The node holds no Redis credential and listens on no public port:
// client requests reach it only through the tunnels it dials.
// SIGTERM drains: reported as draining at once, no new requests (503, the gateway fails over), in-flight streams
// finish (up to DRAIN_TIMEOUT_MS), a running refresh finishes saving, the tunnels close, the last spans are
// exported, exit 0.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  createLogger,
  createMetricsEndpoint,
  readPackageVersion,
  NO_TRACING,
  redactedUrl,
  startMetricsListener,
  startTracing,
  tracingConfigOf,
  type Logger,
} from '@switchyard/shared';
import { createNodeApp } from './app.js';
import { loadNodeConfig, type NodeConfig } from './config.js';
import { CredentialError, createAccountAuth, createSealedCopy, SealedCopyError } from './credentials/index.js';
import { createAccountStateHolder } from './fleet/account-state.js';
import { createDrainGate } from './fleet/drain.js';
import { createStateReports } from './fleet/state-reports.js';
import { createTunnelClient } from './fleet/tunnel-client.js';
import { createLocalListener } from './http/local-listener.js';
import { createNodeMetrics } from './metrics/index.js';
import { createEgress } from './upstream/egress.js';

const VERSION = readPackageVersion(fileURLToPath(new URL('../package.json', import.meta.url))) ?? 'unknown';
// After the drain, how long the tunnels get to say goodbye (GOAWAY, the last answers flushed) before they are cut.
const TUNNEL_CLOSE_GRACE_MS = 5_000;

/** A reason not to start that the operator can fix: printed as it is, with the fix, without a stack. */
class StartupRefusal extends Error {
  override readonly name = 'StartupRefusal';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

function listen(server: http.Server, port: number, host: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new StartupRefusal(
          `cannot listen on ${host}:${port} (${err.code ?? err.message})`,
          `set ${variable} (and HOST) to a free address`,
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
}

async function main(config: NodeConfig, log: Logger): Promise<void> {
  const startedAt = Date.now();
  // Tracing first (docs/TRACING.md): the SDK and its exporter are loaded only when an OTLP endpoint is set.
  const tracingConfig = tracingConfigOf(config);
  const tracing = tracingConfig.enabled
    ? await startTracing({
        serviceName: 'switchyard-node-agent',
        serviceVersion: VERSION,
        instanceId: config.NODE_ID,
        log,
      })
    : NO_TRACING;
  if (tracing.enabled) log.info('tracing on', { collector: tracingConfig.collector });
  const egress = createEgress({
    ...(config.EGRESS_LOCAL_ADDRESS === undefined ? {} : { localAddress: config.EGRESS_LOCAL_ADDRESS }),
    ...(config.EGRESS_PROXY_URL === undefined ? {} : { proxyUrl: config.EGRESS_PROXY_URL }),
  });

  // 1. The account: API key, or OAuth from the newest of the environment, the volume and the gateway's sealed copy.
  const account = createAccountStateHolder({ log });
  const gate = createDrainGate();
  const metrics = createNodeMetrics({
    nodeId: config.NODE_ID,
    accountKind: config.ANTHROPIC_API_KEY === undefined ? 'oauth' : 'api_key',
    version: VERSION,
    gitSha: config.GIT_SHA,
    account,
    gate,
    tunnels: () => tunnels.connected(),
    now: Date.now,
  });
  const copy = createSealedCopy({
    gatewayUrl: config.GATEWAY_URL,
    nodeId: config.NODE_ID,
    token: config.NODE_TOKEN,
    allowHttp: config.GATEWAY_ALLOW_HTTP,
    log,
  });
  const auth = await createAccountAuth({
    config,
    egress,
    log,
    copy,
    onRefreshOutcome: (outcome) => metrics.refresh(outcome),
  });
  auth.onStatusChange((s) => (s === 'needs_login' ? account.setNeedsLogin() : account.setOk()));
  if (auth.status() === 'needs_login') account.setNeedsLogin();

  // 2. What the gateways see of this node: its state, on every tunnel.
  const reports = createStateReports({
    log,
    report: () => {
      const label = auth.label();
      return {
        nodeId: config.NODE_ID,
        accountKind: auth.kind,
        ...(label === undefined ? {} : { accountLabel: label }),
        state: account.current(),
        inFlight: gate.inFlight,
        version: VERSION,
        gitSha: config.GIT_SHA,
        startedAt,
        heartbeatAt: Date.now(),
      };
    },
  });
  account.onChange(() => reports.notify());

  // 3. The forwarding server: never listens; each tunnel connection stream is one of its connections.
  const connections = http.createServer(
    createNodeApp({
      anthropicBaseUrl: new URL(config.ANTHROPIC_BASE_URL),
      maxBodyBytes: config.MAX_BODY_BYTES,
      egress,
      auth,
      gate,
      log,
      onUpstreamResponse: (status, headers, model) => {
        metrics.upstreamResponse(status, model);
        account.applyResponse(status, headers, model);
      },
      metrics,
      upstreamTimeouts: {
        connectMs: config.UPSTREAM_CONNECT_TIMEOUT_MS,
        headersMs: config.UPSTREAM_HEADERS_TIMEOUT_MS,
      },
      tracing: tracing.enabled,
    }),
  );

  // 4. The tunnels to the gateway (dialled from start() on).
  const tunnels = createTunnelClient({
    gatewayUrl: new URL(config.GATEWAY_URL),
    nodeId: config.NODE_ID,
    token: config.NODE_TOKEN,
    allowHttp: config.GATEWAY_ALLOW_HTTP,
    onStateStream: (stream) => reports.attach(stream),
    connections,
    log,
    pingIntervalMs: config.TUNNEL_PING_INTERVAL_MS,
    pingTimeoutMs: config.TUNNEL_PING_TIMEOUT_MS,
    onDial: (outcome) => metrics.tunnelDial(outcome),
  });

  // 5. The local listener: /health and /metrics (on it, on a port of its own, or off).
  const metricsEndpoint = createMetricsEndpoint({
    port: config.METRICS_PORT,
    token: config.METRICS_TOKEN,
    source: metrics.registry,
    log,
  });
  const local = http.createServer(
    createLocalListener({
      draining: () => gate.draining,
      ...(metricsEndpoint.onMainListener ? { metricsHandler: metricsEndpoint.onMainListener } : {}),
      health: () => ({
        status: 'ok',
        nodeId: config.NODE_ID,
        version: VERSION,
        gitSha: config.GIT_SHA,
        state: account.current().state,
        inFlight: gate.inFlight,
        tunnels: tunnels.connected().length,
      }),
    }),
  );

  await auth.start();
  await listen(local, config.PORT, config.HOST, 'PORT');
  const metricsListening = await startMetricsListener({
    ...metricsEndpoint,
    host: config.HOST,
    mainPort: config.PORT,
    log,
  });

  // 6. Dialling in.
  tunnels.start();
  log.info('node-agent started', {
    nodeId: config.NODE_ID,
    gateway: redactedUrl(config.GATEWAY_URL),
    instance: tunnels.instance.slice(0, 8),
    listen: `${config.HOST}:${config.PORT}`,
    account: auth.kind,
    accountLabel: auth.label(),
    accountStatus: auth.status(),
    upstream: redactedUrl(config.ANTHROPIC_BASE_URL),
    egress: egress.describe(),
    upstreamTimeoutsMs: { connect: config.UPSTREAM_CONNECT_TIMEOUT_MS, headers: config.UPSTREAM_HEADERS_TIMEOUT_MS },
    pingIntervalMs: config.TUNNEL_PING_INTERVAL_MS,
    metrics: metricsListening.description,
    version: VERSION,
    gitSha: config.GIT_SHA,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', { signal, inFlight: gate.inFlight, timeoutMs: config.DRAIN_TIMEOUT_MS });
    const drained = gate.drain(config.DRAIN_TIMEOUT_MS);
    // Reported on every tunnel at once: the gateways stop choosing this node; anything already on its way gets a 503.
    account.setDraining();
    tunnels.stopDialing();
    local.close();
    local.closeIdleConnections();
    metricsListening.server?.close();
    const { timedOut } = await drained;
    // GOAWAY first, then the state streams end: the gateways see a node closing its tunnels, not a broken one.
    const closing = tunnels.stop(TUNNEL_CLOSE_GRACE_MS);
    reports.stop();
    await closing;
    await auth.stop();
    // A refresh just before the end: its sealed copy gets a moment to reach the gateway (the volume has it anyway).
    await copy.flush(3_000);
    copy.close();
    egress.destroy();
    // Last: the spans of the requests that just finished are exported before the exit.
    await tracing.shutdown();
    log.info('stopped', { timedOut, inFlight: gate.inFlight });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

const config = loadNodeConfig();
const log = createLogger({ service: 'node-agent', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
main(config, log).catch((err: unknown) => {
  if (err instanceof CredentialError) log.error('cannot start: no usable account', { reason: err.message });
  else if (err instanceof SealedCopyError)
    log.error('cannot start: the gateway could not be asked for the sealed credential copy', { reason: err.message });
  else if (err instanceof StartupRefusal) log.error('cannot start', { reason: err.message, fix: err.fix });
  else log.error('cannot start', { err });
  const reason =
    err instanceof StartupRefusal
      ? `${err.message}. Fix: ${err.fix}.`
      : err instanceof Error
        ? err.message
        : String(err);
  process.stderr.write(`node-agent cannot start: ${reason}\n`);
  process.exit(1);
});
