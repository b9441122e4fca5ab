// Bootstrap against the real Redis: every accepted format, the newest source wins and is written back to Redis
// and the mirror (0600), CLAUDE_CREDENTIALS_FILE is never written, and missing or broken sources fail clearly.
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAccountAuth } from './create-account-auth.js';
import { createCredentialFile } from './credential-file.js';
import { bootstrapCredential, type CredentialSourceConfig } from './credential-sources.js';
import { createCredentialStore } from './credential-store.js';
import { CredentialError, serializeCredential, type OAuthCredential } from './oauth-credential.js';
import { createHarness, type Harness } from './test-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ label: 'cred-sources' });
});
afterEach(() => h.cleanup());

const cred = (n: number, expires: number): OAuthCredential => ({ type: 'oauth', refresh: `r-${n}`, access: `a-${n}`, expires });
const mirrorDir = () => h.config().CREDENTIALS_DIR;
const mirror = () => createCredentialFile(mirrorDir(), h.nodeId);
const key = () => h.keys.cred(h.nodeId);

function bootstrap(config: CredentialSourceConfig) {
  const credentials = createCredentialStore({ store: h.store, keys: h.keys, nodeId: h.nodeId, file: mirror() });
  return bootstrapCredential({ nodeId: h.nodeId, config, credentials, log: h.captured.log });
}

async function writeSourceFile(name: string, json: unknown): Promise<string> {
  const path = join(h.dir, name);
  await writeFile(path, JSON.stringify(json));
  await chmod(path, 0o400); // read-only, like a mounted secret
  return path;
}

async function expectWrittenBack(expected: OAuthCredential): Promise<void> {
  expect(await h.store.get(key())).toBe(serializeCredential(expected));
  expect(await mirror().read()).toEqual(expected);
  expect((await stat(mirror().path)).mode & 0o777).toBe(0o600);
}

describe('formats', () => {
  const c = cred(1, 1_900_000_000_000);
  test.each([
    ['opencode', c],
    ['opencode wrapped as {"anthropic": …}', { anthropic: c }],
    ['Claude Code', { claudeAiOauth: { accessToken: c.access, refreshToken: c.refresh, expiresAt: c.expires, scopes: ['user:inference'] } }],
  ])('CLAUDE_CREDENTIALS_FILE in the %s format is read, stored in Redis (opencode) and mirrored; the file is left alone', async (_label, json) => {
    const path = await writeSourceFile('creds.json', json);
    const before = await readFile(path, 'utf8');
    const result = await bootstrap({ CLAUDE_CREDENTIALS_FILE: path });
    expect(result.credential).toEqual(c);
    await expectWrittenBack(c);
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  test('a Redis record wrapped as {"anthropic": …} (an existing installation) is read and rewritten as plain opencode', async () => {
    const c2 = cred(2, 1_900_000_000_000);
    await h.store.set(key(), JSON.stringify({ anthropic: c2 }));
    const result = await bootstrap({});
    expect(result.credential).toEqual(c2);
    await expectWrittenBack(c2);
  });

  test('CLAUDE_REFRESH_TOKEN alone becomes a refresh-only record (refreshed before first use)', async () => {
    const result = await bootstrap({ CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential).toEqual({ type: 'oauth', refresh: 'r-env', access: '', expires: 0 });
    await expectWrittenBack(result.credential);
  });
});

describe('newest wins', () => {
  test('the mirror, newest, beats Redis, the file and the env; the others become fallbacks, newest first', async () => {
    const file = await writeSourceFile('creds.json', cred(1, 1_000));
    await h.store.set(key(), serializeCredential(cred(2, 2_000)));
    await mirror().write(cred(3, 3_000));
    const result = await bootstrap({ CLAUDE_CREDENTIALS_FILE: file, CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential).toEqual(cred(3, 3_000));
    expect(result.fallbackRefreshTokens).toEqual(['r-2', 'r-1', 'r-env']);
    await expectWrittenBack(cred(3, 3_000));
    expect(result.redisRaw).toBe(serializeCredential(cred(3, 3_000)));
  });

  test('a newer credentials file replaces an older Redis record and mirror, and is not written itself', async () => {
    const file = await writeSourceFile('creds.json', { claudeAiOauth: { accessToken: 'a-9', refreshToken: 'r-9', expiresAt: 9_000 } });
    await h.store.set(key(), serializeCredential(cred(2, 2_000)));
    await mirror().write(cred(2, 2_000));
    const result = await bootstrap({ CLAUDE_CREDENTIALS_FILE: file });
    expect(result.credential).toEqual(cred(9, 9_000));
    await expectWrittenBack(cred(9, 9_000));
    expect(JSON.parse(await readFile(file, 'utf8'))).toHaveProperty('claudeAiOauth');
  });

  test('a bare refresh token is the oldest: a stored record wins over it', async () => {
    await h.store.set(key(), serializeCredential(cred(2, 2_000)));
    const result = await bootstrap({ CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential).toEqual(cred(2, 2_000));
    expect(result.fallbackRefreshTokens).toEqual(['r-env']);
  });
});

describe('unusable sources', () => {
  test('no source at all names every variable and the login command', async () => {
    const err = (await bootstrap({}).catch((e: unknown) => e)) as CredentialError;
    expect(err).toBeInstanceOf(CredentialError);
    expect(err.code).toBe('missing');
    for (const word of ['ANTHROPIC_API_KEY', 'CLAUDE_REFRESH_TOKEN', 'CLAUDE_CREDENTIALS_FILE', 'login', key()]) expect(err.message).toContain(word);
  });

  test('an unreadable or malformed CLAUDE_CREDENTIALS_FILE stops the start, naming the variable', async () => {
    const missing = join(h.dir, 'nope.json');
    await expect(bootstrap({ CLAUDE_CREDENTIALS_FILE: missing })).rejects.toMatchObject({ code: 'unreadable', message: expect.stringContaining(`CLAUDE_CREDENTIALS_FILE=${missing}`) as unknown });
    const bad = await writeSourceFile('bad.json', { hello: 'world' });
    await expect(bootstrap({ CLAUDE_CREDENTIALS_FILE: bad })).rejects.toMatchObject({ code: 'malformed', message: expect.stringContaining(`CLAUDE_CREDENTIALS_FILE=${bad}`) as unknown });
  });

  test('a broken Redis record is replaced when another source exists, and named when it is the only one', async () => {
    await h.store.set(key(), 'garbage');
    await expect(bootstrap({})).rejects.toMatchObject({ code: 'missing', message: expect.stringContaining(`unusable: Redis key ${key()}`) as unknown });
    expect(await h.store.get(key())).toBe('garbage');
    const result = await bootstrap({ CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential.refresh).toBe('r-env');
    expect(await h.store.get(key())).toBe(serializeCredential(result.credential));
    expect(h.captured.records().some((r) => r.message === 'credential source unusable, replacing it')).toBe(true);
  });

  test('an API key account needs no OAuth source and touches neither Redis nor the mirror', async () => {
    const account = await createAccountAuth({ config: h.config({ ANTHROPIC_API_KEY: 'sk-ant-api03-FAKE-1' }), store: h.store, keys: h.keys, egress: h.egress, log: h.captured.log });
    expect(account.kind).toBe('api_key');
    expect(await h.store.get(key())).toBeNull();
    expect(await mirror().read()).toBeUndefined();
  });
});
