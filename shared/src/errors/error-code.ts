// The code an error carries, for a log field or a decision (errors are classified by code, never by message text).

// A cause chain this deep is a loop or a wrapper gone wrong; the code, if any, sits in the first few links.
const MAX_CAUSES = 5;

function ownCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The string `code` of an error: a Node errno (`ECONNRESET`, `ETIMEDOUT`), an HTTP/2 or proxy code, or one of
 * our own error classes' codes. Undefined for anything else (no code, a number such as a DOMException's, not an
 * object). With `throughCauses`, the first code on the error or along its `cause` chain: fetch() throws a
 * TypeError whose cause carries the socket's code.
 * @example
 * if (errorCode(err) === 'ECONNRESET' && socketWasReused) retryOnce();
 * log.warn('webhook delivery failed', { code: errorCode(err, { throughCauses: true }) });
 */
export function errorCode(err: unknown, opts: { throughCauses?: boolean } = {}): string | undefined {
  if (!opts.throughCauses) return ownCode(err);
  let link: unknown = err;
  for (let depth = 0; depth <= MAX_CAUSES && typeof link === 'object' && link !== null; depth++) {
    const code = ownCode(link);
    if (code !== undefined) return code;
    link = (link as { cause?: unknown }).cause;
  }
  return undefined;
}
