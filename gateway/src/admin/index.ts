// The admin API mounted at /admin.
export { createAdminRouter, type AdminRouterDeps } from './admin-router.js';
export {
  CreateKeyBodySchema,
  EnrolNodeBodySchema,
  UpdateKeyBodySchema,
  type CreateKeyBody,
  type EnrolNodeBody,
  type UpdateKeyBody,
} from './admin-schemas.js';
export { BodyValidationError, ConflictError, type FieldError } from './admin-errors.js';
export {
  DRAINED_CONTROL,
  versionGroups,
  type BuildInfo,
  type EnrolledNode,
  type NodeList,
  type NodeSummary,
  type VersionGroup,
} from './node-routes.js';
export { type NodeEnv, type NodeToken, type RevokedNode } from './enrolment-routes.js';
export { MIN_ADMIN_TOKEN_BYTES, adminRoleOf, type AdminRole } from './admin-auth.js';
export {
  createAuthThrottle,
  DEFAULT_AUTH_THROTTLE,
  type AuthThrottle,
  type AuthThrottleOptions,
} from './auth-throttle.js';
export { type AdminSession } from './session-routes.js';
export { type UsageQueueFigures, type UsageReport, type UsageRow, type UsageTotals } from './usage-routes.js';
export {
  UsageQuerySchema,
  RecentUsageQuerySchema,
  MAX_USAGE_RANGE_DAYS,
  DEFAULT_RECENT_LIMIT,
  type UsageGrouping,
} from './admin-schemas.js';
