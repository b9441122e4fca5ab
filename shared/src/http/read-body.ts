import type { IncomingMessage } from 'node:http';

/**
 * Reads a request body of at most `maxBytes`. Resolves undefined as soon as the body is known to be
 * larger (declared content-length, or the running count), keeping nothing of it; rejects when the
 * client goes away before the end. `admitChunk`, when given, is asked before each chunk is kept: false stops
 * the read the same way (undefined, nothing kept; the caller knows why it refused).
 */
export function readBoundedBody(
  req: IncomingMessage,
  maxBytes: number,
  admitChunk?: (bytes: number) => boolean,
): Promise<Buffer | undefined> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.resolve(undefined);
  // Gone before the read began (e.g. while the caller awaited something): its 'close' has fired already and
  // would never reach the listeners below, so the read would wait for ever.
  if (req.destroyed || req.readableAborted)
    return Promise.reject(new Error('client closed the connection before the request body ended'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (size > maxBytes || (admitChunk !== undefined && !admitChunk(chunk.length))) {
        cleanup();
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      cleanup();
      resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size));
    }
    function onError(err: Error): void {
      cleanup();
      reject(err);
    }
    function onClose(): void {
      cleanup();
      reject(new Error('client closed the connection before the request body ended'));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
