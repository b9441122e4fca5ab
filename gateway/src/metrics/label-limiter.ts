// Label values that come from clients (model names) must not grow the series without bound.

/** Turns a raw value into a label value: `none` when absent, the value itself while the set is small, else `other`. */
export type LabelLimiter = (value: string | undefined) => string;

/**
 * The first `max` distinct values pass as they are (cut to 100 characters); later new values read
 * `other`, so a client inventing model names cannot create a series per request.
 * @example
 * const modelLabel = createLabelLimiter(50);
 * counter.inc({ model: modelLabel(parsed.model) });
 */
export function createLabelLimiter(max: number): LabelLimiter {
  const seen = new Set<string>();
  return (value) => {
    if (value === undefined || value === '') return 'none';
    const label = value.length > 100 ? value.slice(0, 100) : value;
    if (seen.has(label)) return label;
    if (seen.size >= max) return 'other';
    seen.add(label);
    return label;
  };
}
