// Hostile bodies for tests: JSON values nested deeper than any recursion survives.

/** `leaf` inside `depth` objects: `{ a: { a: … leaf } }`. Built without recursion. */
export function nestedObjects(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** `leaf` inside `depth` arrays: `[[… leaf]]`. Built without recursion. */
export function nestedArrays(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}
