import { MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, jsonShapeProblem } from './json-shape.js';
import { parseBody } from './parse-body.js';

const nested = (levels: number): string => `{"model":"m","x":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;

describe('jsonShapeProblem', () => {
  it('accepts nesting up to MAX_JSON_DEPTH levels, counting the body itself as level 1', () => {
    expect(jsonShapeProblem(Buffer.from(nested(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(jsonShapeProblem(Buffer.from(nested(MAX_JSON_DEPTH + 1)))).toEqual({
      kind: 'too_deep',
      maxDepth: MAX_JSON_DEPTH,
    });
  });

  it('finds a repeated top-level key, also when written with escapes', () => {
    expect(
      jsonShapeProblem(Buffer.from('{"model":"claude-opus-4-1","max_tokens":1,"model":"claude-haiku-4-5"}')),
    ).toEqual({ kind: 'duplicate_key', key: 'model' });
    expect(jsonShapeProblem(Buffer.from('{"model":"a","mod\\u0065l":"b"}'))).toEqual({
      kind: 'duplicate_key',
      key: 'model',
    });
  });

  it('leaves repeated keys below the top level, and strings that look like structure, alone', () => {
    const body =
      '{"messages":[{"role":"user","content":"a\\"b,\\"model\\":{[[["},{"role":"user","role":"x"}],"model":"m","s":"\\\\"}';
    expect(JSON.parse(body)).toBeDefined();
    expect(jsonShapeProblem(Buffer.from(body))).toBeUndefined();
  });

  it('reads keys as UTF-8, so different non-ASCII keys differ', () => {
    expect(jsonShapeProblem(Buffer.from('{"é":1,"è":2}'))).toBeUndefined();
    expect(jsonShapeProblem(Buffer.from('{"é":1,"\\u00e9":2}'))).toEqual({ kind: 'duplicate_key', key: 'é' });
  });
});

describe('parseBody', () => {
  it('refuses a repeated top-level key and a too-deep body with 400 invalid_request_error', () => {
    for (const body of ['{"model":"claude-opus-4-1","model":"claude-haiku-4-5"}', nested(20_000)]) {
      let thrown: unknown;
      try {
        parseBody(Buffer.from(body));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({ status: 400, anthropicType: 'invalid_request_error' });
    }
  });
});

describe('the shape is checked before the parse', () => {
  it('refuses more than MAX_JSON_CONTAINERS objects and arrays', () => {
    const wide = (n: number): Buffer => Buffer.from(`{"a":[${Array(n).fill('{}').join(',')}]}`);
    // The body's object and the array count too.
    expect(jsonShapeProblem(wide(MAX_JSON_CONTAINERS - 2))).toBeUndefined();
    expect(jsonShapeProblem(wide(MAX_JSON_CONTAINERS - 1))).toEqual({
      kind: 'too_many_containers',
      maxContainers: MAX_JSON_CONTAINERS,
    });
  });

  it('answers a deep body that is not even JSON with the depth, not with a parse error', () => {
    let thrown: unknown;
    try {
      parseBody(Buffer.from(`{"model":"m","x":${'['.repeat(5_000)}`));
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).toContain('128 levels');
  });
});
