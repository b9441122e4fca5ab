/** The model families whose per-model rate-limit windows we recognise. */
export const KNOWN_MODEL_FAMILIES = ['opus', 'sonnet', 'haiku'] as const;
export type KnownModelFamily = (typeof KNOWN_MODEL_FAMILIES)[number];

/** A known family, or another name derived from the model id (the intersection keeps autocompletion). */
export type ModelFamily = KnownModelFamily | (string & Record<never, never>);

function knownFamilyIn(text: string): KnownModelFamily | undefined {
  return KNOWN_MODEL_FAMILIES.find((family) => text.includes(family));
}

// Words in a model id that never name its family.
const NOT_A_FAMILY = /^(?:claude|anthropic|latest|v?\d.*)$/;

/**
 * The family of a model id: `claude-opus-4-5-20251101` → `opus`, `claude-3-5-sonnet-latest` →
 * `sonnet`. An unknown id gives its first word that is not the vendor, a version or a date.
 */
export function modelFamily(model: string): ModelFamily {
  const lower = model.toLowerCase();
  const known = knownFamilyIn(lower);
  if (known) return known;
  const word = lower.split(/[^a-z0-9]+/).find((part) => part !== '' && !NOT_A_FAMILY.test(part));
  return word ?? lower;
}

/**
 * The model family a rate-limit window is scoped to (`7d_opus` → `opus`), or undefined for an
 * account-wide window (`5h`, `7d`). Only known families count: a window with an unfamiliar suffix may
 * cover every request, so it is treated as account-wide rather than risk hammering a blocked account.
 */
export function familyOfWindow(window: string): KnownModelFamily | undefined {
  const underscore = window.indexOf('_');
  return underscore === -1 ? undefined : knownFamilyIn(window.slice(underscore + 1).toLowerCase());
}

/** The window name a representative claim refers to: `five_hour` → `5h`, `seven_day_opus` → `7d_opus`. */
export function windowForClaim(claim: string): string {
  if (claim.startsWith('five_hour')) return `5h${claim.slice('five_hour'.length)}`;
  if (claim.startsWith('seven_day')) return `7d${claim.slice('seven_day'.length)}`;
  return claim;
}
