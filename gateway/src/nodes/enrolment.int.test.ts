// The enrolment repository on a real Redis: a token is bound to its node id, malformed tokens are refused, and a
// rotation racing a revocation never brings the revoked node back.
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  NodeTokens,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createEnrolmentRepository, type EnrolmentStore } from './enrolment.js';

describe('enrolment repository', () => {
  const prefix = uniquePrefix('enrolment');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;

  beforeAll(() => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  });

  afterEach(async () => {
    const left = await scanKeys(client, prefix);
    if (left.length > 0) await client.del(...left);
  });

  afterAll(async () => {
    await store.close();
    await client.quit();
  });

  it("binds a token to its node id: another node's id, a malformed or a made-up token fail", async () => {
    const enrolments = createEnrolmentRepository({ store, keys });
    const a = (await enrolments.create('node-a'))!;
    const b = (await enrolments.create('node-b'))!;
    expect(await enrolments.verify('node-a', a.token)).toMatchObject({ nodeId: 'node-a' });
    expect(await enrolments.verify('node-b', a.token)).toBeUndefined();
    expect(await enrolments.verify('node-a', b.token)).toBeUndefined();
    expect(await enrolments.verify('node-a', NodeTokens.generate())).toBeUndefined();
    expect(
      await enrolments.verify('node-a', `${a.token.slice(0, -1)}${a.token.endsWith('x') ? 'y' : 'x'}`),
    ).toBeUndefined();
    expect(await enrolments.verify('node-c', a.token)).toBeUndefined();
    expect(await enrolments.verify('a:b', a.token)).toBeUndefined();
  });

  it('refuses to enrol an id that could not name a node', async () => {
    const enrolments = createEnrolmentRepository({ store, keys });
    await expect(enrolments.create('a b')).rejects.toThrow(RangeError);
    expect(await scanKeys(client, prefix)).toEqual([]);
  });

  it('a rotation racing a revocation leaves the node revoked', async () => {
    const enrolments = createEnrolmentRepository({ store, keys });
    const made = (await enrolments.create('node-a'))!;
    // The store as rotate sees it: right after its read, an operator revokes the node.
    let revokeOnRead = true;
    const racing: EnrolmentStore = {
      ...store,
      get: async (key) => {
        const value = await store.get(key);
        if (revokeOnRead && key === keys.nodeEnrolment('node-a')) {
          revokeOnRead = false;
          expect(await enrolments.revoke('node-a')).toBe(true);
        }
        return value;
      },
    };
    const rotated = await createEnrolmentRepository({ store: racing, keys }).rotate('node-a');
    expect(rotated).toBeUndefined();
    expect(await client.exists(keys.nodeEnrolment('node-a'))).toBe(0);
    expect(await enrolments.verify('node-a', made.token)).toBeUndefined();
    expect(await enrolments.list()).toEqual([]);
  });

  it('two rotations at once: the token that stays current is one of the answered ones, the other is refused', async () => {
    const enrolments = createEnrolmentRepository({ store, keys });
    await enrolments.create('node-a');
    const [one, two] = await Promise.all([enrolments.rotate('node-a'), enrolments.rotate('node-a')]);
    const passing = [];
    for (const r of [one, two])
      if (r !== undefined && (await enrolments.verify('node-a', r.token)) !== undefined) passing.push(r.token);
    expect(passing).toHaveLength(1);
  });
});
