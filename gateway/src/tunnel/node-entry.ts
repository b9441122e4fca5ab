// A node's tunnels on one gateway replica: its sessions (the newest last), its latest report, and the agent the
// forwarder sends its requests through, whose connections are streams on the newest live session.
import type { Duplex } from 'node:stream';
import type { NodeReport } from '@switchyard/shared';
import { noTunnelError, TunnelAgent } from './tunnel-agent.js';
import type { TunnelSession } from './tunnel-session.js';

/** What the hub holds per node. */
export interface NodeEntry {
  sessions: TunnelSession[];
  report?: NodeReport;
  agent: TunnelAgent;
}

/** A node's entry, with no session yet. */
export function newNodeEntry(nodeId: string): NodeEntry {
  const entry: NodeEntry = { sessions: [], agent: new TunnelAgent(() => openOnNewest(entry, nodeId)) };
  return entry;
}

/** Whether the node has a session that takes new streams. */
export function hasLiveSession(entry: NodeEntry | undefined): boolean {
  return entry?.sessions.some((s) => s.live()) === true;
}

// The newest live tunnel first: an older one of the same node is being replaced.
function openOnNewest(entry: NodeEntry, nodeId: string): Duplex {
  for (let i = entry.sessions.length - 1; i >= 0; i--) {
    const session = entry.sessions[i] as TunnelSession;
    if (!session.live()) continue;
    try {
      return session.openConnection();
    } catch {
      // Closed between the check and the request: try the next one.
    }
  }
  throw noTunnelError(nodeId);
}
