// What keeps the tunnels of a replica honest between joins: the enrolment poll (revocation and rotation
// reach every replica within seconds) and the lease renewal (one live process per node id).
import type { Logger } from '@switchyard/shared';
import type { EnrolmentRepository } from '../nodes/index.js';
import type { NodeLease } from './node-lease.js';
import type { TunnelSession } from './tunnel-session.js';

/** The live tunnels, by node id. */
export type SessionsByNode = () => ReadonlyMap<string, readonly TunnelSession[]>;

/**
 * One round of the enrolment poll: every tunnel whose node is no longer enrolled, or joined with a token
 * that is no longer the node's, is destroyed. A store failure keeps the tunnels (a Redis outage must not
 * take the fleet down) and is logged once until reads work again. Overlapping rounds are skipped.
 */
export function createEnrolmentPoll(deps: {
  sessions: SessionsByNode;
  enrolments: Pick<EnrolmentRepository, 'get'>;
  log: Logger;
}): () => Promise<void> {
  let polling = false;
  let failing = false;
  return async function pollEnrolments() {
    const byNode = deps.sessions();
    if (polling || byNode.size === 0) return;
    polling = true;
    try {
      const ids = [...byNode.keys()];
      const enrolments = await Promise.all(ids.map((id) => deps.enrolments.get(id)));
      ids.forEach((nodeId, i) => {
        const enrolment = enrolments[i];
        for (const session of deps.sessions().get(nodeId) ?? []) {
          if (enrolment === undefined) session.destroy('node revoked');
          else if (enrolment.tokenDigest !== session.tokenDigest) session.destroy('node token rotated');
        }
      });
      if (failing) deps.log.info('node enrolments readable again');
      failing = false;
    } catch (err) {
      if (!failing) deps.log.warn('node enrolments unreadable; tunnels kept', { err });
      failing = true;
    } finally {
      polling = false;
    }
  };
}

/**
 * One round of lease renewal: each node process with a tunnel here keeps (or takes back) its lease; a
 * process whose lease another one holds loses its tunnels here. A store failure keeps them.
 */
export function createLeaseRenewal(deps: {
  sessions: SessionsByNode;
  lease: NodeLease;
  log: Logger;
}): () => Promise<void> {
  return async function renewLeases() {
    const held = new Map<string, TunnelSession[]>();
    for (const sessions of deps.sessions().values()) {
      for (const s of sessions) {
        const id = `${s.nodeId}\0${s.instance}`;
        held.set(id, [...(held.get(id) ?? []), s]);
      }
    }
    await Promise.all(
      [...held.values()].map(async (sessions) => {
        const { nodeId, instance } = sessions[0] as TunnelSession;
        try {
          if (await deps.lease.hold(nodeId, instance)) return;
          deps.log.warn('tunnel closed: another process holds this node id', { nodeId, instance });
          for (const s of sessions) s.destroy('node lease lost');
        } catch (err) {
          deps.log.debug('node lease not renewed', { nodeId, err });
        }
      }),
    );
  };
}
