// One reading of a body: the gateway reads `model`, `stream` and the prompt from its own parse, and the
// bytes go upstream as sent. Three shapes would let the two readings differ, or make the parse itself the
// attack, so they are refused before anything (JSON.parse included) reads the body (docs/EDGES.md, "One
// reading of a body"):
// - a repeated top-level key: JSON.parse keeps the last `model`, another parser may keep the first, so a
//   key limited to one model could send another;
// - nesting deeper than MAX_JSON_DEPTH: every later reader (the usage worker's walk, a client library, a
//   log) would have to be written for any depth, and JSON.parse of 30 MB of `[` blocked the event loop 3.4 s;
// - more than MAX_JSON_CONTAINERS objects and arrays: an empty object costs JSON.parse some 20 times its
//   three bytes, so 28 MB of `{},` built 563 MB in 5.4 s.

/** The deepest nesting of objects and arrays a request body may have; the body's own object is level 1. */
export const MAX_JSON_DEPTH = 128;

/**
 * The most objects and arrays a request body may hold. A Claude Code conversation at a full context holds a
 * few tens of thousands; a model's tool input is bounded by its output tokens. At the bound the parse costs
 * some 30 MB and 0.1 s.
 */
export const MAX_JSON_CONTAINERS = 500_000;

/** What is wrong with a body's shape, or undefined when nothing is. */
export type ShapeProblem =
  | { kind: 'too_deep'; maxDepth: number }
  | { kind: 'too_many_containers'; maxContainers: number }
  | { kind: 'duplicate_key'; key: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

// The index of the quote that closes the string whose opening quote is at `open` (n when it never closes).
// Strings are where a body's bytes are, so they are skipped with indexOf, not byte by byte.
function closingQuote(buf: Buffer, open: number): number {
  let at = buf.indexOf(QUOTE, open + 1);
  while (at !== -1) {
    let backslashes = 0;
    for (let j = at - 1; j > open && buf[j] === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = buf.indexOf(QUOTE, at + 1);
  }
  return buf.length;
}

// A key as JSON.parse reads it: `"mod\u0065l"` is `model`.
function keyText(buf: Buffer, open: number, close: number): string {
  const raw = buf.toString('utf8', open + 1, close);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(buf.toString('utf8', open, close + 1)) as string;
  } catch {
    return raw;
  }
}

/**
 * Checks a JSON body's nesting depth, its count of objects and arrays and its top-level keys in one pass over
 * the bytes, without building anything, so it runs before JSON.parse. On text that is not JSON it answers
 * something harmless (the parse refuses that text anyway).
 * @example
 * jsonShapeProblem(Buffer.from('{"model":"a","model":"b"}')); // { kind: 'duplicate_key', key: 'model' }
 */
export function jsonShapeProblem(
  buf: Buffer,
  limits: { maxDepth?: number; maxContainers?: number } = {},
): ShapeProblem | undefined {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH;
  const maxContainers = limits.maxContainers ?? MAX_JSON_CONTAINERS;
  let depth = 0;
  let containers = 0;
  // Only a top-level object's keys are compared; a key is the first string after its `{` or a `,`.
  let topIsObject = false;
  let expectKey = false;
  const topKeys = new Set<string>();
  const n = buf.length;
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (c === QUOTE) {
      const close = closingQuote(buf, i);
      if (expectKey && depth === 1 && topIsObject) {
        const key = keyText(buf, i, close);
        if (topKeys.has(key)) return { kind: 'duplicate_key', key };
        topKeys.add(key);
      }
      expectKey = false;
      i = close;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      containers++;
      if (depth > maxDepth) return { kind: 'too_deep', maxDepth };
      if (containers > maxContainers) return { kind: 'too_many_containers', maxContainers };
      if (depth === 1) topIsObject = c === OPEN_OBJECT;
      expectKey = depth === 1 && c === OPEN_OBJECT;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    } else if (c === COMMA && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}
