// Cancelling a request stream on a node's tunnel without RST_STREAM from our side. nghttp2 (Node 20) closes a
// server session that has received more than 1,000 RST_STREAM frames at more than 33 a second (its rapid-reset
// guard, CVE-2023-44487; Node 22 makes it tunable, Node 20 does not). The node is the tunnel's HTTP/2 server, so
// a gateway that reset a stream for every client that hung up mid-stream (Claude Code's Esc) lost the whole
// tunnel once aborts passed ~33 a second: every request on it failed, and the node sat out its unreachable
// cool-down (measured: the bench's soak, 535 req/s with 10% aborts, 16,877 errors; docs/MEASURED.md §13). So a
// stream our client side gives up on is half-closed instead (END_STREAM), and the node resets it from its end
// (node-agent/src/fleet/tunnel-session.ts): a server's resets are not rate-limited. A node of an older build ends
// the request as well (node:http ends a socket its peer ended); a stream still open after CANCEL_GRACE_MS is reset.
import type { ClientHttp2Stream } from 'node:http2';

/** How long a half-closed stream may stay open before we reset it ourselves (a node without the reset on END). */
export const CANCEL_GRACE_MS = 2_000;

const discard = (): void => undefined;

/**
 * Makes `stream.destroy()` without an error (node:http giving up on the exchange) half-close the stream and drop
 * what still arrives, rather than reset it; a stream already closed, or destroyed with an error before that, is
 * destroyed as before. Returns the same stream.
 */
export function cancelByHalfClose(stream: ClientHttp2Stream, graceMs: number = CANCEL_GRACE_MS): ClientHttp2Stream {
  // Called with `this` bound below: the stream's own method, kept to do the reset when one is due.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const destroy = stream.destroy;
  let cancelling = false;
  stream.destroy = function destroyByHalfClose(this: ClientHttp2Stream, err?: Error | null): ClientHttp2Stream {
    // A stream that has closed (the node's reset or END_STREAM arrived: Node's http2 destroys it then) or whose
    // session is gone is destroyed at once: nothing is sent, and node:http and the agent let go of the exchange.
    if (this.closed || this.destroyed || this.session === undefined || this.session.destroyed)
      return destroy.call(this, err ?? undefined);
    // node:http destroys a given-up exchange's socket more than once (the response, then the request): while
    // the half-closed stream is still open, the later calls wait for the node's end of it, like the first.
    if (cancelling) return this;
    // An error, a stream not yet opened, or request bytes still queued (an upload cut short: ending would send
    // the rest of the body first, up to MAX_BODY_BYTES) take the reset; rare, so far below the limit.
    if ((err !== undefined && err !== null) || this.pending || this.writableLength > 0)
      return destroy.call(this, err ?? undefined);
    cancelling = true;
    // node:http no longer reads this exchange: what the node still sends is dropped, not parsed.
    this.removeAllListeners('data');
    this.on('data', discard);
    this.resume();
    if (!this.writableEnded) this.end();
    const timer = setTimeout(() => destroy.call(this), graceMs);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    return this;
  };
  return stream;
}
