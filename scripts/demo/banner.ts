// What the demo prints once everything is up: where it is, the two secrets the operator needs, and
// copy-paste lines for curl, the SDK and Claude Code. The last line is the ready marker.

/** The line a script (or the demo test) waits for. */
export const READY_LINE = 'Switchyard demo is ready. Press Ctrl-C to stop it.';

export interface BannerInput {
  gatewayUrl: string;
  workerMetricsUrl: string;
  userKey: string;
  adminToken: string;
  metricsToken: string;
  nodes: { nodeId: string; email: string }[];
  redis: string;
  prefix: string;
  logDir: string;
  verbose: boolean;
  /** Where the processes export traces (--otel), or undefined. */
  otelEndpoint?: string | undefined;
}

const MODEL = 'claude-sonnet-4-6';

/** The ready block, one string per line. */
export function readyBanner(b: BannerInput): string[] {
  const body = JSON.stringify({
    model: MODEL,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Hello, Claude' }],
  });
  const sdk = [
    `import Anthropic from '@anthropic-ai/sdk';`,
    `const msg = await new Anthropic().messages.create({ model: '${MODEL}', max_tokens: 256, messages: [{ role: 'user', content: 'Hello, Claude' }] });`,
    `console.log(msg.content[0].text);`,
  ];
  return [
    '',
    'Switchyard demo: two Claude accounts on a fake Anthropic upstream (no real account, no cost).',
    '',
    `  gateway      ${b.gatewayUrl}`,
    `  user key     ${b.userKey}`,
    `  admin token  ${b.adminToken}`,
    `  dashboard    ${b.gatewayUrl}/dashboard  (sign in with the admin token)`,
    `  metrics      ${b.gatewayUrl}/metrics and ${b.workerMetricsUrl}  (Bearer ${b.metricsToken})`,
    `  nodes        ${b.nodes.map((n) => `${n.nodeId} (${n.email})`).join(', ')}`,
    `  redis        ${b.redis}, keys under ${b.prefix}`,
    `  logs         ${b.logDir}${b.verbose ? '' : '  (npm run demo -- --verbose streams them here)'}`,
    `  traces       ${b.otelEndpoint === undefined ? 'off  (npm run demo -- --otel http://127.0.0.1:4318 exports them)' : `${b.otelEndpoint}  (OTLP/HTTP, from the gateway, the node-agents and the usage worker; a response's traceresponse header names its trace)`}`,
    '',
    'curl:',
    `  curl -s ${b.gatewayUrl}/v1/messages -H 'x-api-key: ${b.userKey}' -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -d '${body}'`,
    '',
    'The SDK (from this repo, which has @anthropic-ai/sdk installed):',
    `  ANTHROPIC_BASE_URL=${b.gatewayUrl} ANTHROPIC_API_KEY=${b.userKey} node --input-type=module -e "`,
    ...sdk.map((line) => `  ${line}`),
    '  "',
    '',
    'Claude Code:',
    `  ANTHROPIC_BASE_URL=${b.gatewayUrl} ANTHROPIC_AUTH_TOKEN=${b.userKey} claude`,
    '',
    'The operator CLI:',
    `  SWITCHYARD_URL=${b.gatewayUrl} SWITCHYARD_ADMIN_TOKEN=${b.adminToken} npx switchyard nodes list`,
    '',
    READY_LINE,
  ];
}
