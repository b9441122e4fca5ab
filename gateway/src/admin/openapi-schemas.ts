// The admin API's response shapes as zod schemas, for the OpenAPI document only (the routes build their
// answers from their own types; the compile-time checks below fail when a type gains or loses a field the
// schema does not, and the OpenAPI test checks real answers against the document).
import { z } from 'zod';
import {
  AccountStatusSchema,
  AlertEventSchema,
  RecentRequestSchema,
  USAGE_COUNTER_FIELDS,
  WindowFiguresSchema,
  type AnthropicErrorType,
  type UsageCounterField,
} from '@switchyard/shared';
import { KeyRecordSchema, type KeyView } from '../keys/index.js';
import { USAGE_GROUPINGS } from './admin-schemas.js';
import type { FieldError } from './admin-errors.js';
import type { AdminSession } from './session-routes.js';
import type { NodeToken, RevokedNode } from './enrolment-routes.js';
import type { NodeForesight, WindowForesight } from '../foresight/index.js';
import type { EnrolledNode, NodeList, NodeSummary, VersionGroup } from './node-routes.js';
import type {
  RecentRequestView,
  UsageMonth,
  UsageQueueFigures,
  UsageReport,
  UsageRow,
  UsageTotals,
} from './usage-routes.js';

const epochMs = z.number().int().nonnegative();

export const AdminSessionSchema = z
  .object({
    role: z
      .enum(['admin', 'read'])
      .describe('admin: ADMIN_TOKEN, every route. read: ADMIN_READ_TOKEN, every GET (other methods answer 403).'),
  })
  .describe('Who signed in.');

export const KeyViewSchema = KeyRecordSchema.omit({ digest: true })
  .extend({
    allowedBetas: KeyRecordSchema.shape.allowedBetas.describe(
      '`anthropic-beta` values the key may send, exact names; null: any; []: none. A request carrying another is refused with 403 naming it.',
    ),
    dailyUsdBudget: KeyRecordSchema.shape.dailyUsdBudget.describe(
      'USD per UTC day at API list prices; null: none. Counted spend plus what requests in flight reserve (docs/BUDGETS.md).',
    ),
    monthlyUsdBudget: KeyRecordSchema.shape.monthlyUsdBudget.describe(
      'USD per UTC calendar month at API list prices; null: none (docs/BUDGETS.md).',
    ),
  })
  .describe('A gateway key as the admin API shows it: everything but its digest.');

export const CreatedKeySchema = z.object({
  key: z.string().describe('The new key. This is the only response that ever carries it: store it now.'),
  record: KeyViewSchema,
});

export const KeyListSchema = z.object({ keys: z.array(KeyViewSchema) });

export const RevokedKeySchema = z.object({ id: z.string(), revoked: z.literal(true) });

export const WindowForesightSchema = z
  .object({
    utilization: z.number().nonnegative().describe('The latest utilization, a fraction of the limit (1.0: the limit).'),
    burnPerHour: z
      .number()
      .nonnegative()
      .describe(
        'How fast utilization rose over the last hour of readings (never measured over less than 5 minutes), per hour; 0 when it did not or fewer than 2 readings are recent.',
      ),
    exhaustsAt: epochMs
      .nullable()
      .describe(
        'When it reaches 1.0 at that rate, if before its reset (epoch ms); null: it lasts until the reset. At the limit already: when it was first seen there.',
      ),
    resetAt: epochMs.nullable().describe('When the window resets (epoch ms); null when unknown.'),
    samples: z.number().int().nonnegative().describe('How many readings the burn was measured from.'),
    since: epochMs
      .nullable()
      .describe('Epoch ms of the oldest of them: the burn is the rise since then over max(at − since, 5 minutes).'),
  })
  .describe("One usage window's burn and when it runs out.");

export const NodeForesightSchema = z
  .object({
    fiveHour: WindowForesightSchema.optional(),
    sevenDay: WindowForesightSchema.optional(),
    exhaustsAt: epochMs
      .nullable()
      .describe("The earliest of the windows' exhaustsAt; null: every window lasts until its reset."),
    at: epochMs.describe("When the prediction was made (the gateway's clock)."),
  })
  .describe('When the account is predicted to run out at its recent burn (docs/FORESIGHT.md).');

export const NodeSummarySchema = z
  .object({
    nodeId: z.string(),
    accountKind: z.enum(['oauth', 'api_key']),
    accountLabel: z.string().optional(),
    state: AccountStatusSchema.describe('The account status now; a lapsed limit reads as available.'),
    limitedUntil: epochMs.optional().describe('While limited: out until then (epoch ms).'),
    limitedFamilies: z.record(z.string(), epochMs).optional().describe('Per model family: out until then (epoch ms).'),
    fiveHour: WindowFiguresSchema.optional(),
    sevenDay: WindowFiguresSchema.optional(),
    representativeClaim: z.string().optional(),
    stateUpdatedAt: epochMs,
    inFlight: z.number().int().nonnegative(),
    version: z.string(),
    gitSha: z.string(),
    startedAt: epochMs,
    heartbeatAt: epochMs.describe("When the node sent its latest state report (the node's clock)."),
    heartbeatAgeMs: z.number().nonnegative(),
    adminDrained: z.boolean(),
    unreachableUntil: epochMs.optional().describe('Set while this gateway treats the node as unreachable.'),
    foresight: NodeForesightSchema.nullable().describe(
      'Quota foresight; null for an API-key account, which has no 5-hour or 7-day window.',
    ),
  })
  .describe(
    'One node connected to this gateway: its account status, limits and reset times (epoch ms), load and build.',
  );

export const EnrolledNodeSchema = z
  .object({
    nodeId: z.string(),
    label: z.string().optional(),
    tokenHint: z.string().describe("A safe-to-show form of the node's current token, e.g. 'syn-AbCd…wxyz'."),
    createdAt: epochMs,
    rotatedAt: epochMs.optional().describe('When its token was last rotated.'),
    connected: z.boolean().describe('It has a tunnel to the gateway that answered (and so is in `nodes`).'),
    adminDrained: z.boolean().describe('An operator drained it: no new requests, now or when it connects.'),
  })
  .describe('An enrolled node: it may join the fleet with its token. Never the token itself.');

export const NodeTokenSchema = z
  .object({
    nodeId: z.string(),
    label: z.string().optional(),
    token: z
      .string()
      .describe(
        "The node's token (NODE_TOKEN). This is the only answer that ever carries it: the gateway keeps only its digest.",
      ),
    tokenHint: z.string(),
    createdAt: epochMs,
    rotatedAt: epochMs.optional(),
    env: z
      .object({ NODE_ID: z.string(), NODE_TOKEN: z.string() })
      .describe(
        "The node's .env lines, but GATEWAY_URL: the address the node dials is the one you reached this gateway at.",
      ),
  })
  .describe('A node and its token, answered once at enrolment and at each rotation.');

export const RevokedNodeSchema = z.object({ nodeId: z.string(), revoked: z.literal(true) });

export const BuildInfoSchema = z
  .object({ version: z.string(), gitSha: z.string() })
  .describe("A build: its release line's version and the commit it was built from.");

export const VersionGroupSchema = z
  .object({
    version: z.string(),
    gitSha: z.string(),
    nodes: z.array(z.string()).describe('The ids of the nodes running this build, sorted.'),
  })
  .describe('One build the fleet runs, and the nodes running it.');

export const NodeListSchema = z.object({
  nodes: z.array(NodeSummarySchema).describe('The nodes connected to this gateway.'),
  enrolled: z.array(EnrolledNodeSchema).describe('Every enrolled node, by id, connected or not.'),
  versions: z
    .array(VersionGroupSchema)
    .describe(
      'One entry per build the nodes run, the most recently started build first (during a roll-out: the new one).',
    ),
  mixedVersions: z.boolean().describe('More than one build runs: a roll-out is under way, or one stalled.'),
  gateway: BuildInfoSchema.describe('The build of the gateway that answered.'),
});

export const NodeControlSchema = z.object({ nodeId: z.string(), adminDrained: z.boolean() });

/** Counters that may go below zero: what caching saved is negative when cache writes cost more than reads saved. */
const SIGNED_COUNTERS: ReadonlySet<UsageCounterField> = new Set(['cacheSavingsMicros']);
const counterShape = Object.fromEntries(
  USAGE_COUNTER_FIELDS.map((field) => [
    field,
    SIGNED_COUNTERS.has(field) ? z.number().int() : z.number().nonnegative(),
  ]),
) as Record<UsageCounterField, z.ZodNumber>;

export const UsageTotalsSchema = z.object({
  ...counterShape,
  sentTokens: z.number().nonnegative().describe('Exact tokens sent: input + cache creation + cache reads.'),
  receivedTokens: z.number().nonnegative().describe('Exact tokens received: the output tokens.'),
  costUsd: z
    .number()
    .nonnegative()
    .describe(
      'costMicros in US dollars: what the requests cost at API list prices (summed as integer micro-dollars, converted once). Requests of an unpriced model count 0 (see unpricedRequests).',
    ),
  apiEquivalentUsd: z
    .number()
    .nonnegative()
    .describe(
      'apiEquivalentMicros in US dollars: the part of costUsd served by subscription (OAuth) accounts, what the same tokens would have cost on the API.',
    ),
  cacheSavingsUsd: z
    .number()
    .describe(
      'cacheSavingsMicros in US dollars: what prompt caching saved (negative when cache writes cost more than cache reads saved).',
    ),
  cacheReadShare: z
    .number()
    .min(0)
    .max(1)
    .nullable()
    .describe(
      'cacheReadInputTokens / (inputTokens + cacheCreationInputTokens + cacheReadInputTokens): the share of input read from the prompt cache; null when no input was sent.',
    ),
  requestsByRoute: z
    .object({
      messages: z
        .number()
        .nonnegative()
        .describe('Requests that came in on POST /v1/messages: requests − chatCompletionRequests.'),
      chat_completions: z
        .number()
        .nonnegative()
        .describe(
          'Requests that came in on POST /v1/chat/completions (OpenAI format, docs/OPENAI.md): chatCompletionRequests.',
        ),
    })
    .describe('`requests` by the client API they came in on. Every other figure counts both alike.'),
});

const month = z.string().regex(/^\d{4}-\d{2}$/);

export const UsageMonthSchema = UsageTotalsSchema.extend({ month: month.describe('The UTC month, YYYY-MM.') }).describe(
  "A key's totals for one UTC month: what its monthly USD budget counts.",
);

export const UsageRowSchema = UsageTotalsSchema.extend({
  id: z.string().describe('The key id, node id, model or day (YYYY-MM-DD) of the row.'),
  name: z.string().optional().describe("by=key: the key's name, while the key record exists."),
  priceVersions: z
    .array(z.string())
    .optional()
    .describe("by=day: the price-data versions that priced the day's requests, sorted; empty when none was priced."),
  month: UsageMonthSchema.optional().describe(
    "by=key: the key's totals for the current UTC month (the gateway's clock), whatever the range.",
  ),
});

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

const jobCount = z.number().int().nonnegative();
const lagSeconds = z
  .number()
  .nonnegative()
  .describe(
    "Seconds the oldest waiting usage job has waited to be counted (0 when none waits). Budgets hold each request's reservation until it is counted, for at most 10 minutes (docs/BUDGETS.md).",
  );

export const UsageQueueSchema = z
  .object({
    waiting: jobCount.describe('Jobs waiting for a usage worker.'),
    active: jobCount.describe('Jobs a worker is counting now.'),
    delayed: jobCount.describe('Jobs waiting out a retry backoff.'),
    failed: jobCount.describe(
      'Jobs that failed every attempt (their requests are not counted), kept until they age out.',
    ),
    lagSeconds,
  })
  .describe('The usage queue: one job per request, counted into the totals by the usage worker.');

export const UsageReportSchema = z.object({
  by: z.enum(USAGE_GROUPINGS),
  from: day,
  to: day,
  rows: z.array(UsageRowSchema).describe('by=day: one row per day, oldest first; otherwise the busiest first.'),
  totals: UsageTotalsSchema.describe('All requests in the range, also those no row shows.'),
  priceVersions: z.array(z.string()).describe('The price-data versions that priced any request of the range, sorted.'),
  allTime: UsageTotalsSchema.describe('Since counting began, whatever the range.'),
  lagSeconds: lagSeconds
    .nullable()
    .describe(
      'How far the totals trail the traffic: the age in seconds of the oldest usage job not yet counted (0 when none waits). null when Redis did not answer about the queue within its deadline (2 s); the totals are answered all the same.',
    ),
  queue: UsageQueueSchema.nullable().describe(
    'The usage queue by state, and its lag; null when Redis did not answer about the queue within its deadline (2 s).',
  ),
  lagWarnSeconds: z
    .number()
    .int()
    .positive()
    .describe(
      'USAGE_LAG_WARN_SECONDS: lag above it is a warning (the gateway logs `usage accounting lags`; the dashboard marks it).',
    ),
});

export const RecentRequestViewSchema = RecentRequestSchema.extend({
  route: RecentRequestSchema.shape.route.describe(
    'The client API the request came in on: messages (POST /v1/messages) or chat_completions (POST /v1/chat/completions, docs/OPENAI.md).',
  ),
  costUsd: z
    .number()
    .nonnegative()
    .describe('costMicros in US dollars (0 with `priced: false`: the model had no price).'),
  cacheSavingsUsd: z
    .number()
    .describe('cacheSavingsMicros in US dollars (negative when cache writes cost more than reads saved).'),
});

export const AlertListSchema = z.object({
  alerts: z
    .array(AlertEventSchema)
    .describe(
      'The alerts raised lately (up to 200), newest first, each once however often it was raised. Never any prompt text, key or token.',
    ),
});

export const RecentRequestsSchema = z.object({
  requests: z.array(RecentRequestViewSchema).describe('Newest first. Never any prompt or response text.'),
});

const ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'overloaded_error',
  'timeout_error',
] as const satisfies readonly AnthropicErrorType[];

export const ErrorEnvelopeSchema = z
  .object({
    type: z.literal('error'),
    error: z.object({
      type: z.enum(ERROR_TYPES),
      message: z.string(),
      details: z
        .array(z.object({ path: z.string(), message: z.string() }))
        .optional()
        .describe('Invalid bodies: every problem, by dotted field path.'),
    }),
    request_id: z.string().optional(),
  })
  .describe("The Anthropic error envelope, the admin API's answer to every failure.");

// Compile-time drift checks: the documented shapes have exactly the fields of the types the routes answer with.
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
type Check<T extends true> = T;
export type SchemaDriftChecks = [
  Check<SameKeys<z.infer<typeof AdminSessionSchema>, AdminSession>>,
  Check<SameKeys<z.infer<typeof KeyViewSchema>, KeyView>>,
  Check<SameKeys<z.infer<typeof NodeSummarySchema>, NodeSummary>>,
  Check<SameKeys<z.infer<typeof NodeForesightSchema>, NodeForesight>>,
  Check<SameKeys<z.infer<typeof WindowForesightSchema>, WindowForesight>>,
  Check<SameKeys<z.infer<typeof NodeListSchema>, NodeList>>,
  Check<SameKeys<z.infer<typeof EnrolledNodeSchema>, EnrolledNode>>,
  Check<SameKeys<z.infer<typeof NodeTokenSchema>, NodeToken>>,
  Check<SameKeys<z.infer<typeof NodeTokenSchema>['env'], NodeToken['env']>>,
  Check<SameKeys<z.infer<typeof RevokedNodeSchema>, RevokedNode>>,
  Check<SameKeys<z.infer<typeof VersionGroupSchema>, VersionGroup>>,
  Check<SameKeys<z.infer<typeof UsageTotalsSchema>, UsageTotals>>,
  Check<SameKeys<z.infer<typeof UsageTotalsSchema>['requestsByRoute'], UsageTotals['requestsByRoute']>>,
  Check<SameKeys<z.infer<typeof UsageRowSchema>, UsageRow>>,
  Check<SameKeys<z.infer<typeof UsageReportSchema>, UsageReport>>,
  Check<SameKeys<z.infer<typeof UsageQueueSchema>, UsageQueueFigures>>,
  Check<SameKeys<z.infer<typeof UsageMonthSchema>, UsageMonth>>,
  Check<SameKeys<z.infer<typeof RecentRequestViewSchema>, RecentRequestView>>,
  Check<SameKeys<NonNullable<z.infer<typeof ErrorEnvelopeSchema>['error']['details']>[number], FieldError>>,
  Check<[Exclude<AnthropicErrorType, (typeof ERROR_TYPES)[number]>] extends [never] ? true : false>,
];
// And every value the routes produce is one the schemas describe.
export type SchemaAssignabilityChecks = [
  Check<AdminSession extends z.infer<typeof AdminSessionSchema> ? true : false>,
  Check<KeyView extends z.infer<typeof KeyViewSchema> ? true : false>,
  Check<NodeSummary extends z.infer<typeof NodeSummarySchema> ? true : false>,
  Check<NodeList extends z.infer<typeof NodeListSchema> ? true : false>,
  Check<NodeToken extends z.infer<typeof NodeTokenSchema> ? true : false>,
  Check<UsageReport extends z.infer<typeof UsageReportSchema> ? true : false>,
  Check<RecentRequestView extends z.infer<typeof RecentRequestViewSchema> ? true : false>,
];
