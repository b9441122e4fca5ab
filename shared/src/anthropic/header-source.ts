/** Anything with `forEach((value, name) => …)`: fetch/undici `Headers`, a `Map`. */
export interface HeadersLike {
  forEach(callbackfn: (value: string, key: string) => void): void;
}

/** A plain header record, e.g. node's `IncomingHttpHeaders`; names in any case. */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** Response headers in any of the shapes the services hold them in. */
export type HeaderSource = HeadersLike | HeaderRecord;

function firstValue(value: string | readonly string[] | number | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return value?.[0];
}

/**
 * The headers whose lower-cased name passes `keep`, as a Map from lower-cased name to the first
 * value. Filtering while copying keeps the per-response cost to one pass over the names.
 */
export function collectHeaders(headers: HeaderSource, keep: (lowerName: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  const add = (name: string, value: string | readonly string[] | number | undefined): void => {
    const lower = name.toLowerCase();
    if (!keep(lower)) return;
    const first = firstValue(value);
    if (first !== undefined) out.set(lower, first.trim());
  };
  if (typeof headers.forEach === 'function') {
    (headers as HeadersLike).forEach((value, key) => add(key, value));
  } else {
    const record = headers as HeaderRecord;
    for (const name of Object.keys(record)) add(name, record[name]);
  }
  return out;
}
