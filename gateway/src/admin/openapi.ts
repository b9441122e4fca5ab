// The admin API described as an OpenAPI 3.1 document, served at GET /admin/openapi.json. Request bodies and
// query strings come from the same zod schemas the routes validate with; responses from openapi-schemas.ts.
// openapi.test.ts keeps the list of operations equal to the router's routes.
import { z } from 'zod';
import {
  DEFAULT_RECENT_LIMIT,
  MAX_USAGE_RANGE_DAYS,
  CreateKeyBodySchema,
  EnrolNodeBodySchema,
  RecentUsageQuerySchema,
  UpdateKeyBodySchema,
  UsageQuerySchema,
} from './admin-schemas.js';
import { AlertEventSchema, RECENT_REQUESTS_KEPT } from '@switchyard/shared';
import {
  AlertListSchema,
  AdminSessionSchema,
  CreatedKeySchema,
  ErrorEnvelopeSchema,
  KeyListSchema,
  KeyViewSchema,
  BuildInfoSchema,
  EnrolledNodeSchema,
  NodeControlSchema,
  NodeListSchema,
  NodeSummarySchema,
  NodeTokenSchema,
  RecentRequestsSchema,
  RecentRequestViewSchema,
  RevokedKeySchema,
  RevokedNodeSchema,
  UsageMonthSchema,
  UsageQueueSchema,
  UsageReportSchema,
  UsageRowSchema,
  UsageTotalsSchema,
  VersionGroupSchema,
} from './openapi-schemas.js';

/** The admin API contract's version (info.version): bump it when a route, body or answer changes shape. */
export const ADMIN_API_VERSION = '2.4.0';

type JsonSchema = Record<string, unknown>;
type Method = 'get' | 'post' | 'patch' | 'delete';
type ErrorStatus = 400 | 404 | 409 | 413;
/** Answered by the authentication in front of every route but the document: not listed per operation. */
type AuthStatus = 401 | 403 | 429;

/** One operation of the admin API. */
interface OperationSpec {
  method: Method;
  /** OpenAPI form, `{id}` for a path parameter. */
  path: string;
  operationId: string;
  tag: 'keys' | 'nodes' | 'usage' | 'alerts' | 'meta';
  summary: string;
  description?: string;
  pathParam?: { name: string; description: string };
  query?: { schema: z.ZodObject; describe: Record<string, string>; override?: Record<string, JsonSchema> };
  body?: 'CreateKeyBody' | 'UpdateKeyBody' | 'EnrolNodeBody';
  ok: { status: 200 | 201; schema: string; description: string };
  errors: ErrorStatus[];
  /** Served without a token (and without the failed-authentication throttle). */
  public?: true;
}

const KEY_ID = { name: 'id', description: 'The key id (`key_…`), as `POST /admin/keys` answered it.' };
const NODE_ID = { name: 'id', description: 'The node id (NODE_ID of its node-agent), as it was enrolled.' };

const OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/admin/openapi.json',
    operationId: 'getOpenApi',
    tag: 'meta',
    summary: 'This document',
    description: 'Served without a token and never throttled: it describes the API and carries no data.',
    ok: { status: 200, schema: 'OpenApiDocument', description: 'The OpenAPI document of the admin API.' },
    errors: [],
    public: true,
  },
  {
    method: 'get',
    path: '/admin/session',
    operationId: 'getSession',
    tag: 'meta',
    summary: 'Who signed in',
    description:
      'The role of the token this request carried: `admin` (ADMIN_TOKEN: every route) or `read` (ADMIN_READ_TOKEN: every GET; any other method is answered 403). The dashboard and the CLI ask it to offer only what the role may do.',
    ok: { status: 200, schema: 'AdminSession', description: 'The role of the presented token.' },
    errors: [],
  },
  {
    method: 'post',
    path: '/admin/keys',
    operationId: 'createKey',
    tag: 'keys',
    summary: 'Create a gateway key',
    description:
      'Absent limits are unlimited, an absent expiry is never, absent allowedModels and allowedBetas are any. allowedBetas lists the `anthropic-beta` values the key may send (exact names; `[]`: none); a request with any other is refused with 403 naming it. The answer is the only place the key itself ever appears.',
    body: 'CreateKeyBody',
    ok: { status: 201, schema: 'CreatedKey', description: 'The key (shown once) and its record.' },
    errors: [400, 413],
  },
  {
    method: 'get',
    path: '/admin/keys',
    operationId: 'listKeys',
    tag: 'keys',
    summary: 'List the gateway keys',
    ok: { status: 200, schema: 'KeyList', description: 'Every key that exists (revoked keys are gone).' },
    errors: [],
  },
  {
    method: 'get',
    path: '/admin/keys/{id}',
    operationId: 'getKey',
    tag: 'keys',
    summary: 'Read one key',
    pathParam: KEY_ID,
    ok: { status: 200, schema: 'KeyView', description: 'The key record, without the key.' },
    errors: [404],
  },
  {
    method: 'patch',
    path: '/admin/keys/{id}',
    operationId: 'updateKey',
    tag: 'keys',
    summary: 'Change a key',
    description:
      'Give at least one field; null clears a limit, an expiry, the model list or the beta list (any model, any beta).',
    pathParam: KEY_ID,
    body: 'UpdateKeyBody',
    ok: { status: 200, schema: 'KeyView', description: 'The record after the change.' },
    errors: [400, 404, 413],
  },
  {
    method: 'delete',
    path: '/admin/keys/{id}',
    operationId: 'revokeKey',
    tag: 'keys',
    summary: 'Revoke a key',
    description: 'Every gateway refuses the key within 5 s (their key caches refresh); its record is deleted.',
    pathParam: KEY_ID,
    ok: { status: 200, schema: 'RevokedKey', description: 'The key is revoked.' },
    errors: [404],
  },
  {
    method: 'post',
    path: '/admin/nodes',
    operationId: 'enrolNode',
    tag: 'nodes',
    summary: 'Enrol a node',
    description:
      "Creates the node's identity: its token is in this answer and nowhere else (the gateway keeps only its digest). Put GATEWAY_URL (the address you reach the gateway at), NODE_ID and NODE_TOKEN in the node's .env.",
    body: 'EnrolNodeBody',
    ok: { status: 201, schema: 'NodeToken', description: 'The node and its token (shown once).' },
    errors: [400, 409, 413],
  },
  {
    method: 'get',
    path: '/admin/nodes',
    operationId: 'listNodes',
    tag: 'nodes',
    summary: 'The fleet as this gateway sees it',
    ok: {
      status: 200,
      schema: 'NodeList',
      description:
        "Every connected node: account state, limits and reset times, quota foresight (each window's burn per hour and when it runs out before its reset; null for an API-key account), load, build; every enrolled node, connected or not; and the builds the fleet runs, at a glance.",
    },
    errors: [],
  },
  {
    method: 'delete',
    path: '/admin/nodes/{id}',
    operationId: 'revokeNode',
    tag: 'nodes',
    summary: 'Revoke a node',
    description:
      "Its token stops working at once; every gateway closes the node's tunnels within 5 s. Its sealed credential copy and drain flag are deleted.",
    pathParam: NODE_ID,
    ok: { status: 200, schema: 'RevokedNode', description: 'The node is revoked.' },
    errors: [404],
  },
  {
    method: 'post',
    path: '/admin/nodes/{id}/token',
    operationId: 'rotateNodeToken',
    tag: 'nodes',
    summary: "Rotate a node's token",
    description:
      "A new token, shown once; the old one stops working at once and the node's tunnels under it close within 5 s. Put the new NODE_TOKEN in the node's .env and restart it: it re-seals its credential copy under the new token.",
    pathParam: NODE_ID,
    ok: { status: 200, schema: 'NodeToken', description: 'The node and its new token (shown once).' },
    errors: [404],
  },
  {
    method: 'post',
    path: '/admin/nodes/{id}/drain',
    operationId: 'drainNode',
    tag: 'nodes',
    summary: 'Drain a node',
    description:
      'The gateways send it no new requests (its conversations move to other nodes); requests in flight finish. An enrolled node need not be connected: it stays drained when it connects.',
    pathParam: NODE_ID,
    ok: { status: 200, schema: 'NodeControl', description: 'The node is drained.' },
    errors: [404],
  },
  {
    method: 'post',
    path: '/admin/nodes/{id}/resume',
    operationId: 'resumeNode',
    tag: 'nodes',
    summary: 'Resume a drained node',
    pathParam: NODE_ID,
    ok: { status: 200, schema: 'NodeControl', description: 'The node takes traffic again.' },
    errors: [404],
  },
  {
    method: 'get',
    path: '/admin/usage',
    operationId: 'getUsage',
    tag: 'usage',
    summary: 'Token usage over a range of UTC days, grouped',
    description: `Exact counts from Anthropic's usage and js-tiktoken estimates, summed over the days. At most ${MAX_USAGE_RANGE_DAYS} days. The totals are what the usage worker has counted so far: \`lagSeconds\` and \`queue\` say how far they trail the traffic (both null when Redis does not answer about the queue within 2 s; the report is answered all the same). Budgets follow the counted totals, so while the worker lags a key can spend past its budget by what is not yet counted. Every row and total carries its cost in US dollars (\`costUsd\`, \`apiEquivalentUsd\`, \`cacheSavingsUsd\`: integer micro-dollars summed, converted once), the share of input read from the prompt cache (\`cacheReadShare\`), \`cacheMisses\`, \`stickyMoves\`, \`unpricedRequests\` (requests of a model with no price, counted at $0) and \`requestsByRoute\` (the requests that came in on /v1/messages and on /v1/chat/completions; \`chatCompletionRequests\` counts the latter). by=day rows name the day's price-data versions; by=key rows carry the key's current month.`,
    query: {
      schema: UsageQuerySchema,
      describe: {
        by: 'Group the rows by key, node, model or day.',
        from: 'First UTC day (YYYY-MM-DD); default: six days before `to`.',
        to: 'Last UTC day (YYYY-MM-DD); default: today.',
      },
    },
    ok: {
      status: 200,
      schema: 'UsageReport',
      description: 'The rows, the totals of the range, the all-time totals and the accounting lag.',
    },
    errors: [400],
  },
  {
    method: 'get',
    path: '/admin/usage/recent',
    operationId: 'getRecentRequests',
    tag: 'usage',
    summary: 'The most recent requests',
    query: {
      schema: RecentUsageQuerySchema,
      describe: { limit: 'How many of the newest entries.' },
      // The schema reads a query string (digits); clients see the number it stands for.
      override: {
        limit: { type: 'integer', minimum: 1, maximum: RECENT_REQUESTS_KEPT, default: DEFAULT_RECENT_LIMIT },
      },
    },
    ok: { status: 200, schema: 'RecentRequests', description: 'Newest first.' },
    errors: [400],
  },
  {
    method: 'get',
    path: '/admin/alerts',
    operationId: 'getAlerts',
    tag: 'alerts',
    summary: 'The alerts raised lately',
    description:
      'What the webhooks of ALERT_WEBHOOK_URLS were sent (docs/ALERTS.md): budget thresholds, accounts needing a login or limited, nodes lost, usage jobs failed, fleet exhaustion. Recorded by the usage worker, so listed once it has taken them, whether or not any webhook is configured.',
    ok: { status: 200, schema: 'AlertList', description: 'Newest first.' },
    errors: [],
  },
];

const ERROR_RESPONSES: Record<
  ErrorStatus | AuthStatus | 500,
  { name: string; description: string; headers?: Record<string, unknown> }
> = {
  400: { name: 'BadRequest', description: 'The body or query is invalid; the message names every problem.' },
  401: {
    name: 'Unauthorized',
    description:
      'Missing or wrong token: neither ADMIN_TOKEN nor ADMIN_READ_TOKEN (a node token or a gateway key is never one). A wrong token counts towards the throttle of the address it came from (429).',
  },
  403: {
    name: 'ReadOnly',
    description:
      'The token is the read-only ADMIN_READ_TOKEN, which may only GET: the message names the method and path it tried.',
  },
  429: {
    name: 'TooManyFailures',
    description:
      'This source address sent too many wrong tokens (by default 10 in 60 s): every admin request from it, with the right token too, is refused until its window ends. The token is not checked.',
    headers: {
      'retry-after': {
        description: 'Seconds until the address may try again.',
        schema: { type: 'integer', minimum: 1 },
      },
    },
  },
  404: { name: 'NotFound', description: 'No such key, node or route.' },
  409: { name: 'Conflict', description: 'It exists already (a node id enrolled before).' },
  413: { name: 'TooLarge', description: 'The body is larger than 64 kB.' },
  500: { name: 'InternalError', description: 'An unexpected failure (logged with its request id).' },
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** zod schemas registered under component names, as JSON Schema objects without their own $schema/$id. */
function componentSchemas(entries: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(entries)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'throw',
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _s, $id: _i, ...rest } = schema as JsonSchema;
      return [id, rest];
    }),
  );
}

function queryParameters(query: NonNullable<OperationSpec['query']>): unknown[] {
  const json = z.toJSONSchema(query.schema, { io: 'input' }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    description: query.describe[name],
    schema: query.override?.[name] ?? schema,
  }));
}

function errorResponse(status: ErrorStatus | AuthStatus | 500) {
  return { $ref: `#/components/responses/${ERROR_RESPONSES[status].name}` };
}

function operationObject(op: OperationSpec): Record<string, unknown> {
  const parameters = [
    ...(op.pathParam
      ? [
          {
            name: op.pathParam.name,
            in: 'path',
            required: true,
            description: op.pathParam.description,
            schema: { type: 'string', minLength: 1 },
          },
        ]
      : []),
    ...(op.query ? queryParameters(op.query) : []),
  ];
  const responses: Record<string, unknown> = {
    [op.ok.status]: { description: op.ok.description, content: { 'application/json': { schema: ref(op.ok.schema) } } },
  };
  for (const status of op.errors) responses[status] = errorResponse(status);
  if (!op.public) {
    responses['401'] = errorResponse(401);
    // The read-only role may GET every route and nothing else.
    if (op.method !== 'get') responses['403'] = errorResponse(403);
    responses['429'] = errorResponse(429);
  }
  responses['500'] = errorResponse(500);
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description === undefined ? {} : { description: op.description }),
    ...(op.public ? { security: [] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body) } } } } : {}),
    responses,
  };
}

/** The (method, path) pairs the document describes, paths in OpenAPI form. */
export function documentedOperations(): { method: Method; path: string }[] {
  return OPERATIONS.map(({ method, path }) => ({ method, path }));
}

/** The answers' schemas, by their component name. */
const RESPONSE_SCHEMAS: Record<string, z.ZodType> = {
  AdminSession: AdminSessionSchema,
  KeyView: KeyViewSchema,
  CreatedKey: CreatedKeySchema,
  KeyList: KeyListSchema,
  RevokedKey: RevokedKeySchema,
  NodeSummary: NodeSummarySchema,
  EnrolledNode: EnrolledNodeSchema,
  NodeToken: NodeTokenSchema,
  RevokedNode: RevokedNodeSchema,
  NodeList: NodeListSchema,
  BuildInfo: BuildInfoSchema,
  VersionGroup: VersionGroupSchema,
  NodeControl: NodeControlSchema,
  UsageTotals: UsageTotalsSchema,
  UsageRow: UsageRowSchema,
  UsageQueue: UsageQueueSchema,
  UsageReport: UsageReportSchema,
  UsageMonth: UsageMonthSchema,
  RecentRequest: RecentRequestViewSchema,
  RecentRequests: RecentRequestsSchema,
  AlertEvent: AlertEventSchema,
  AlertList: AlertListSchema,
  ErrorEnvelope: ErrorEnvelopeSchema,
};

/** The request bodies' schemas, by their component name. */
const BODY_SCHEMAS: Record<string, z.ZodType> = {
  CreateKeyBody: CreateKeyBodySchema,
  UpdateKeyBody: UpdateKeyBodySchema,
  EnrolNodeBody: EnrolNodeBodySchema,
};

const INFO = {
  title: 'Switchyard admin API',
  version: ADMIN_API_VERSION,
  description:
    'Manage gateway keys, enrol and steer the fleet, and read token usage. Every route but this document needs `Authorization: Bearer <ADMIN_TOKEN>` (every route) or `Bearer <ADMIN_READ_TOKEN>` (every GET; other methods answer 403). A source address that sends too many wrong tokens is refused with 429 and `retry-after` until its window ends. Failures answer in the Anthropic error envelope.',
};

const TAGS = [
  { name: 'keys', description: 'Gateway keys: who may call the gateway, with which limits.' },
  { name: 'nodes', description: 'The account nodes: enrolment (their tokens), the fleet and the drain switch.' },
  { name: 'usage', description: 'Token usage, exact and estimated, its cost in US dollars and cache efficiency.' },
  { name: 'alerts', description: 'The alerts raised lately (each is also sent to the configured webhooks).' },
  { name: 'meta', description: 'This document, and who signed in.' },
];

const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description: "The gateway's ADMIN_TOKEN (every route), or its ADMIN_READ_TOKEN (GET routes only).",
  },
};

/** Every schema the document names: the answers, the bodies, and the document itself. */
function schemaComponents(): Record<string, JsonSchema> {
  const bodies = componentSchemas(BODY_SCHEMAS, 'input');
  // The refinement "at least one field" has no JSON Schema form of its own.
  if (bodies.UpdateKeyBody) bodies.UpdateKeyBody.minProperties = 1;
  return {
    ...componentSchemas(RESPONSE_SCHEMAS, 'output'),
    ...bodies,
    OpenApiDocument: {
      type: 'object',
      required: ['openapi', 'info', 'paths'],
      properties: { openapi: { type: 'string' } },
    },
  };
}

/** The shared error answers (401, 403, 429, …), each in the Anthropic error envelope. */
function errorResponseComponents(): Record<string, unknown> {
  return Object.fromEntries(
    Object.values(ERROR_RESPONSES).map(({ name, description, headers }) => [
      name,
      {
        description,
        ...(headers === undefined ? {} : { headers }),
        content: { 'application/json': { schema: ref('ErrorEnvelope') } },
      },
    ]),
  );
}

/**
 * Builds the admin API's OpenAPI 3.1 document (plain JSON, a fresh copy each call; build once and serve).
 * @example router.get('/openapi.json', (_req, res) => res.json(doc)) // doc = buildAdminOpenApi()
 */
export function buildAdminOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operationObject(op);
  return {
    openapi: '3.1.0',
    info: { ...INFO },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: TAGS.map((tag) => ({ ...tag })),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: structuredClone(SECURITY_SCHEMES),
      schemas: schemaComponents(),
      responses: errorResponseComponents(),
    },
  };
}
