// A workaround for Node's HTTP/2 streams (seen on 20.20): a corked batch of writes whose last chunk is an
// empty string reaches the peer with its first ~16 bytes overwritten. node:http ends every message with
// such a write (`end()` appends '' to attach its callback), so an HTTP/1.1 message written on an
// Http2Stream arrives with a garbled request or status line. Dropping empty chunks from the batch is
// enough: they carry no bytes. Both ends of a tunnel stream need it (the gateway's request side, the
// node's response side). The test in empty-write-guard.int.test.ts fails without it.
import type { Duplex } from 'node:stream';

interface BufferedChunk {
  chunk: Buffer | string;
  encoding: BufferEncoding | 'buffer';
}

type Writev = (
  this: Duplex,
  chunks: BufferedChunk[] & { allBuffers?: boolean },
  cb: (err?: Error | null) => void,
) => void;

/**
 * Makes `stream`'s batched writes skip empty chunks; returns the same stream.
 * @example
 * h2server.on('stream', (s) => { s.respond({ ':status': 200 }); httpServer.emit('connection', guardEmptyWrites(s)); });
 */
export function guardEmptyWrites<S extends Duplex>(stream: S): S {
  const target = stream as unknown as { _writev?: Writev };
  const writev = target._writev;
  if (typeof writev !== 'function') return stream;
  target._writev = function writevWithoutEmpty(chunks, cb) {
    if (chunks.every((c) => c.chunk.length > 0)) return writev.call(this, chunks, cb);
    const kept: BufferedChunk[] & { allBuffers?: boolean } = chunks.filter((c) => c.chunk.length > 0);
    if (kept.length === 0) return process.nextTick(cb);
    kept.allBuffers = kept.every((c) => typeof c.chunk !== 'string');
    return writev.call(this, kept, cb);
  };
  return stream;
}
