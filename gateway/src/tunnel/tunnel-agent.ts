// The bridge between http-proxy-3 and a node's tunnel: an http.Agent whose "connections" are HTTP/2
// streams on the node's session. One stream carries one HTTP/1.1 request (keepAlive false), so a
// client hang-up ends exactly that stream (half-closed, and the node resets it: half-close-cancel.ts) and
// nothing else.
import { Agent, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';

/** Opens a stream on a live session of the node, or throws (ECONNREFUSED) when none is left. */
export type StreamOpener = () => Duplex;

/** An agent for one node. */
export class TunnelAgent extends Agent {
  readonly #open: StreamOpener;

  constructor(open: StreamOpener) {
    super({ keepAlive: false });
    this.#open = open;
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    try {
      return this.#open();
    } catch (err) {
      // Like a refused TCP connect: the request errors and the forwarder tries the next node.
      callback?.(err as Error, undefined as unknown as Duplex);
      return undefined;
    }
  }
}

/** The error a request gets when its node has no live tunnel left. */
export function noTunnelError(nodeId: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`no live tunnel to node ${nodeId}`);
  err.code = 'ECONNREFUSED';
  return err;
}
