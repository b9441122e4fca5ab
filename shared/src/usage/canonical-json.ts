// Canonical JSON without recursion: a block's identity must be computable for any value a client can
// send, and a body nested 20,000 levels deep overflows the call stack of a recursive walk (and of
// JSON.stringify, past ~4,000 levels). The walk keeps its own stack, so its depth costs heap, linear in
// the size of the value, like the value itself.

/** A canonical JSON text and how deeply its objects and arrays nest (a scalar is 0, `{}` and `[]` are 1). */
export interface CanonicalJson {
  text: string;
  depth: number;
}

type Frame =
  | { kind: 'array'; items: readonly unknown[]; next: number }
  | { kind: 'object'; record: Record<string, unknown>; names: string[]; next: number; wrote: boolean };

// JSON.stringify gives undefined for undefined, functions and symbols (written as null, as in an array)
// and throws for a bigint (none comes from JSON.parse; written as its digits so the walk stays total).
function scalarJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? 'null';
}

function frameOf(value: object): Frame {
  if (Array.isArray(value)) return { kind: 'array', items: value, next: 0 };
  const record = value as Record<string, unknown>;
  return { kind: 'object', record, names: Object.keys(record).sort(), next: 0, wrote: false };
}

/**
 * Like {@link canonicalJson}, and the deepest nesting met on the way, in the same single walk.
 *
 * @example canonicalJsonWithDepth({ a: [1] }) // { text: '{"a":[1]}', depth: 2 }
 */
export function canonicalJsonWithDepth(value: unknown): CanonicalJson {
  if (value === null || typeof value !== 'object') return { text: scalarJson(value), depth: 0 };
  const stack: Frame[] = [frameOf(value)];
  let out = Array.isArray(value) ? '[' : '{';
  let depth = 1;
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Frame;
    let child: unknown;
    let found = false;
    if (top.kind === 'array') {
      if (top.next < top.items.length) {
        if (top.next > 0) out += ',';
        child = top.items[top.next++];
        found = true;
      }
    } else {
      while (top.next < top.names.length) {
        const name = top.names[top.next++] as string;
        const member = top.record[name];
        if (member === undefined || typeof member === 'function') continue;
        out += (top.wrote ? ',' : '') + JSON.stringify(name) + ':';
        top.wrote = true;
        child = member;
        found = true;
        break;
      }
    }
    if (!found) {
      stack.pop();
      out += top.kind === 'array' ? ']' : '}';
    } else if (child !== null && typeof child === 'object') {
      stack.push(frameOf(child));
      out += Array.isArray(child) ? '[' : '{';
      if (stack.length > depth) depth = stack.length;
    } else {
      out += scalarJson(child);
    }
  }
  return { text: out, depth };
}

/**
 * JSON with object keys sorted (at every depth) and no whitespace: the same value always gives the same
 * text, whatever order a client wrote its keys in. Strings and numbers are serialised by
 * JSON.stringify (a lone surrogate as its `\udXXX` escape), so the output parses back to an equal
 * value. `undefined` members are left out, as JSON.stringify does. Any depth: the walk does not recurse.
 *
 * @example canonicalJson({ b: 1, a: [true, { d: null, c: 'x' }] }) // '{"a":[true,{"c":"x","d":null}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return canonicalJsonWithDepth(value).text;
}
