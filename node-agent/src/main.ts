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
  type MetricsListening,
  type Tracing,
  stopOnSignals,
} from '@switchyard/shared';
import { createNodeApp } from './app.js';
import { loadNodeConfig, type NodeConfig } from './config.js';
import {
  CredentialError,
  createAccountAuth,
  createSealedCopy,
  SealedCopyError,
  type AccountAuth,
  type SealedCopy,
} from './credentials/index.js';
import { createAccountStateHolder, type AccountStateHolder } from './fleet/account-state.js';
import { createDrainGate, type DrainGate } from './fleet/drain.js';
import { createStateReports, type StateReports } from './fleet/state-reports.js';
import { createTunnelClient, type TunnelClient } from './fleet/tunnel-client.js';
import { createLocalListener } from './http/local-listener.js';
import { createNodeMetrics, type NodeMetrics } from './metrics/index.js';
import { createEgress, type Egress } from './upstream/egress.js';

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

/** The egress, the account's state and auth, the drain gate, the metrics, the sealed copy at the gateway. */
interface NodeAccount {
  egress: Egress;
  account: AccountStateHolder;
  gate: DrainGate;
  metrics: NodeMetrics;
  copy: SealedCopy;
  auth: AccountAuth;
}

/** The forwarding server (it never listens) and the tunnels whose streams are its connections. */
interface NodeTunnels {
  connections: http.Server;
  tunnels: TunnelClient;
}

/** The local listener (/health, and /metrics unless that has a port of its own or is off) and the metrics one. */
interface NodeListeners {
  local: http.Server;
  metricsListening: MetricsListening;
}

/** Everything the shutdown stops. */
interface RunningNode {
  tracing: Tracing;
  account: NodeAccount;
  reports: StateReports;
  tunnels: TunnelClient;
  listeners: NodeListeners;
}

/** Tracing first (docs/TRACING.md): the SDK and its exporter are loaded only when an OTLP endpoint is set. */
async function startNodeTracing(config: NodeConfig, log: Logger): Promise<Tracing> {
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
  return tracing;
}

/** `connectedTunnels` is read only once the tunnels exist (by the metrics, when scraped). */
async function openAccount(
  config: NodeConfig,
  log: Logger,
  connectedTunnels: () => readonly string[],
): Promise<NodeAccount> {
  const egress = createEgress({
    ...(config.EGRESS_LOCAL_ADDRESS === undefined ? {} : { localAddress: config.EGRESS_LOCAL_ADDRESS }),
    ...(config.EGRESS_PROXY_URL === undefined ? {} : { proxyUrl: config.EGRESS_PROXY_URL }),
  });
  const account = createAccountStateHolder({ log });
  const gate = createDrainGate();
  const metrics = createNodeMetrics({
    nodeId: config.NODE_ID,
    accountKind: config.ANTHROPIC_API_KEY === undefined ? 'oauth' : 'api_key',
    version: VERSION,
    gitSha: config.GIT_SHA,
    account,
    gate,
    tunnels: connectedTunnels,
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
  return { egress, account, gate, metrics, copy, auth };
}

function createReports(
  config: NodeConfig,
  log: Logger,
  startedAt: number,
  { auth, account, gate }: NodeAccount,
): StateReports {
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
  return reports;
}

function createTunnels(
  config: NodeConfig,
  log: Logger,
  { egress, auth, gate, account, metrics }: NodeAccount,
  reports: StateReports,
  tracing: Tracing,
): NodeTunnels {
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
  return { connections, tunnels };
}

/** Built first, then the account is started, then the local listener and the metrics one listen. */
async function openListeners(
  config: NodeConfig,
  log: Logger,
  { account, gate, metrics, auth }: NodeAccount,
  tunnels: TunnelClient,
): Promise<NodeListeners> {
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
  return { local, metricsListening };
}

function dialIn(
  config: NodeConfig,
  log: Logger,
  { egress, auth }: NodeAccount,
  tunnels: TunnelClient,
  metrics: string,
): void {
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
    metrics,
    version: VERSION,
    gitSha: config.GIT_SHA,
  });
}

async function shutdown(config: NodeConfig, log: Logger, node: RunningNode, signal: string): Promise<void> {
  const { gate, account, auth, copy, egress } = node.account;
  const { tunnels, reports } = node;
  const { local, metricsListening } = node.listeners;
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
  await node.tracing.shutdown();
  log.info('stopped', { timedOut, inFlight: gate.inFlight });
  process.exit(0);
}

async function main(config: NodeConfig, log: Logger): Promise<void> {
  const startedAt = Date.now();
  // 1. Tracing, before anything that could make a span.
  const tracing = await startNodeTracing(config, log);
  // 2. The egress and the account: API key, or OAuth from the newest of the environment, the volume and the
  //    gateway's sealed copy. The metrics count the tunnels once there are any.
  const account = await openAccount(config, log, () => tunnels.connected());
  // 3. What the gateways see of this node: its state, on every tunnel.
  const reports = createReports(config, log, startedAt, account);
  // 4. The forwarding server (each tunnel connection stream is one of its connections) and the tunnels to the
  //    gateway (dialled from start() on).
  const { tunnels } = createTunnels(config, log, account, reports, tracing);
  // 5. The local listener: /health and /metrics (on it, on a port of its own, or off); the account starts first.
  const listeners = await openListeners(config, log, account, tunnels);
  // 6. Dialling in.
  dialIn(config, log, account, tunnels, listeners.metricsListening.description);
  // 7. Shutdown on SIGTERM/SIGINT: drain, GOAWAY on the tunnels, the credential store, tracing last.
  stopOnSignals((signal) => shutdown(config, log, { tracing, account, reports, tunnels, listeners }, signal));
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
