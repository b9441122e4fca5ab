// What a node reports about itself over its tunnel (shared/src/tunnel/protocol.ts): the gateway routes on the latest
// report and GET /admin/nodes shows it. Nothing of it is an address: the gateway reaches the node through the tunnel.
import { z } from 'zod';
import { AccountStateSchema } from '../anthropic/account-state.js';

const epochMs = z.number().int().nonnegative();

/** One state report line. */
export const NodeReportSchema = z.object({
  nodeId: z.string().min(1),
  accountKind: z.enum(['oauth', 'api_key']),
  /** The account's email when known, else a masked hint; never the secret. */
  accountLabel: z.string().optional(),
  state: AccountStateSchema,
  /** Requests the node is serving right now. */
  inFlight: z.number().int().nonnegative(),
  version: z.string(),
  gitSha: z.string(),
  startedAt: epochMs,
  /** When the node wrote this report (the node's clock). */
  heartbeatAt: epochMs,
});
export type NodeReport = z.infer<typeof NodeReportSchema>;
