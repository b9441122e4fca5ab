// How every node-facing route (the tunnel upgrade, the sealed credential copy) tells which node is calling:
// `Authorization: Bearer <NODE_TOKEN>` plus `x-switchyard-node-id`, checked against the enrolment. A node
// token is bound to its id, and never accepted where a user key or the admin token is expected (nor they here).
import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken, TunnelHeaders } from '@switchyard/shared';
import type { EnrolmentRepository, NodeEnrolment } from './enrolment.js';

/** Who a node-facing request comes from, or why it is refused. */
export type NodeAuthResult =
  | { ok: true; nodeId: string; token: string; enrolment: NodeEnrolment }
  | { ok: false; reason: 'malformed' | 'unauthenticated' };

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/**
 * Checks a node's credentials on a request's headers. Never throws for bad input; a store failure rejects.
 * @example
 * const who = await authenticateNode(req.headers, enrolments);
 * if (!who.ok) return refuse(who.reason);
 */
export async function authenticateNode(
  headers: IncomingHttpHeaders,
  enrolments: Pick<EnrolmentRepository, 'verify'>,
): Promise<NodeAuthResult> {
  const nodeId = single(headers[TunnelHeaders.nodeId]);
  const token = bearerToken(headers.authorization);
  if (nodeId === undefined || nodeId === '' || token === undefined) return { ok: false, reason: 'malformed' };
  const enrolment = await enrolments.verify(nodeId, token);
  return enrolment === undefined ? { ok: false, reason: 'unauthenticated' } : { ok: true, nodeId, token, enrolment };
}
