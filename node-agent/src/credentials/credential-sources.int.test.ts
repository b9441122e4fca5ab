// Bootstrap: every accepted format, the newest of the env, CLAUDE_CREDENTIALS_FILE, the volume record and the gateway's
// sealed copy wins and is written to the volume (0600) and re-sealed; CLAUDE_CREDENTIALS_FILE is never written;
// missing or broken sources fail clearly.
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeTokens, sealForNode } from '@switchyard/shared';
import { createAccountAuth } from './create-account-auth.js';
import { bootstrapCredential, type CredentialSourceConfig } from './credential-sources.js';
import { CredentialError, serializeCredential, type OAuthCredential } from './oauth-credential.js';
import { createHarness, type Harness } from './test-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(() => h.cleanup());

const cred = (n: number, expires: number): OAuthCredential => ({
  type: 'oauth',
  refresh: `r-${n}`,
  access: `a-${n}`,
  expires,
});

function bootstrap(config: CredentialSourceConfig) {
  return bootstrapCredential({ nodeId: h.nodeId, config, file: h.file, copy: h.copy, log: h.captured.log });
}

async function writeSourceFile(name: string, json: unknown): Promise<string> {
  const path = join(h.dir, name);
  await writeFile(path, JSON.stringify(json));
  await chmod(path, 0o400); // read-only, like a mounted secret
  return path;
}

/** Puts a copy at the gateway as the node would have sealed it. */
function sealAtGateway(credential: OAuthCredential, token = h.token): void {
  h.gateway.sealed = sealForNode(token, h.nodeId, serializeCredential(credential));
}

async function expectStoredAndSealed(expected: OAuthCredential): Promise<void> {
  expect(await h.file.read()).toEqual(expected);
  expect((await stat(h.file.path)).mode & 0o777).toBe(0o600);
  expect(await h.copy.flush(10_000)).toBe(true);
  expect(h.sealedRecord()).toEqual(expected);
}

describe('formats', () => {
  const c = cred(1, 1_900_000_000_000);
  test.each([
    ['opencode', c],
    ['opencode wrapped as {"anthropic": …}', { anthropic: c }],
    [
      'Claude Code',
      {
        claudeAiOauth: {
          accessToken: c.access,
          refreshToken: c.refresh,
          expiresAt: c.expires,
          scopes: ['user:inference'],
        },
      },
    ],
  ])(
    'CLAUDE_CREDENTIALS_FILE in the %s format is read, stored on the volume (opencode, 0600) and sealed; the file is left alone',
    async (_label, json) => {
      const path = await writeSourceFile('creds.json', json);
      const before = await readFile(path, 'utf8');
      const result = await bootstrap({ CLAUDE_CREDENTIALS_FILE: path });
      expect(result.credential).toEqual(c);
      await expectStoredAndSealed(c);
      expect(JSON.parse(await readFile(h.file.path, 'utf8'))).toEqual({
        type: 'oauth',
        refresh: c.refresh,
        access: c.access,
        expires: c.expires,
      });
      expect(await readFile(path, 'utf8')).toBe(before);
    },
  );

  test('a volume record wrapped as {"anthropic": …} (an existing mirror file) is read and rewritten as plain opencode', async () => {
    const c2 = cred(2, 1_900_000_000_000);
    await mkdir(h.config().CREDENTIALS_DIR, { recursive: true });
    await writeFile(h.file.path, JSON.stringify({ anthropic: c2 }));
    const result = await bootstrap({});
    expect(result.credential).toEqual(c2);
    await expectStoredAndSealed(c2);
    expect(JSON.parse(await readFile(h.file.path, 'utf8'))).not.toHaveProperty('anthropic');
  });

  test('CLAUDE_REFRESH_TOKEN alone becomes a refresh-only record (refreshed before first use)', async () => {
    const result = await bootstrap({ CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential).toEqual({ type: 'oauth', refresh: 'r-env', access: '', expires: 0 });
    await expectStoredAndSealed(result.credential);
  });
});

describe('newest wins', () => {
  test('the sealed copy, newest, beats the volume, the file and the env; the others become fallbacks, newest first', async () => {
    const file = await writeSourceFile('creds.json', cred(1, 1_000));
    await h.file.write(cred(2, 2_000));
    sealAtGateway(cred(3, 3_000));
    const result = await bootstrap({ CLAUDE_CREDENTIALS_FILE: file, CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential).toEqual(cred(3, 3_000));
    expect(result.fallbackRefreshTokens).toEqual(['r-2', 'r-1', 'r-env']);
    await expectStoredAndSealed(cred(3, 3_000));
    // The copy already held the winner: nothing was sent.
    expect(h.gateway.puts).toBe(0);
  });

  test('the volume, newest, beats an older sealed copy, which is re-sealed', async () => {
    await h.file.write(cred(4, 4_000));
    sealAtGateway(cred(3, 3_000));
    const result = await bootstrap({});
    expect(result.credential).toEqual(cred(4, 4_000));
    expect(result.fallbackRefreshTokens).toEqual(['r-3']);
    await expectStoredAndSealed(cred(4, 4_000));
    expect(h.gateway.puts).toBe(1);
  });

  test('a newer credentials file replaces an older volume record and sealed copy, and is not written itself', async () => {
    const file = await writeSourceFile('creds.json', {
      claudeAiOauth: { accessToken: 'a-9', refreshToken: 'r-9', expiresAt: 9_000 },
    });
    await h.file.write(cred(2, 2_000));
    sealAtGateway(cred(2, 2_000));
    const result = await bootstrap({ CLAUDE_CREDENTIALS_FILE: file });
    expect(result.credential).toEqual(cred(9, 9_000));
    await expectStoredAndSealed(cred(9, 9_000));
    expect(JSON.parse(await readFile(file, 'utf8'))).toHaveProperty('claudeAiOauth');
  });

  test('a bare refresh token is the oldest: a stored record wins over it', async () => {
    await h.file.write(cred(2, 2_000));
    const result = await bootstrap({ CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential).toEqual(cred(2, 2_000));
    expect(result.fallbackRefreshTokens).toEqual(['r-env']);
  });
});

describe('the sealed copy', () => {
  test('an empty volume and no variables: the sealed copy alone restores the record, 0600', async () => {
    sealAtGateway(cred(5, 5_000));
    const result = await bootstrap({});
    expect(result.credential).toEqual(cred(5, 5_000));
    expect(result.source).toBe("the gateway's sealed copy");
    await expectStoredAndSealed(cred(5, 5_000));
  });

  test('a copy sealed under another token (rotated) is ignored with one warning, and replaced by one sealed under the current token', async () => {
    const oldToken = NodeTokens.generate();
    sealAtGateway(cred(9, 9_000), oldToken);
    await h.file.write(cred(2, 2_000));
    const result = await bootstrap({});
    expect(result.credential).toEqual(cred(2, 2_000));
    const warnings = h.captured.records().filter((r) => String(r.message).includes('does not open'));
    expect(warnings).toHaveLength(1);
    await expectStoredAndSealed(cred(2, 2_000));
    expect(() => h.sealedRecord(oldToken)).toThrow();
  });

  test('a gateway that refuses the token does not stop a node that has its volume; the refusal is named', async () => {
    await h.file.write(cred(2, 2_000));
    h.gateway.token = NodeTokens.generate();
    const result = await bootstrap({});
    expect(result.credential).toEqual(cred(2, 2_000));
    const warning = h.captured.records().find((r) => r.message === 'credential source unusable');
    expect(JSON.stringify(warning?.sources)).toMatch(/refused NODE_TOKEN/);
  });

  test('an unreachable gateway: waited for a while, then a node with nothing else fails naming it', async () => {
    await h.gateway.down();
    const err = (await bootstrap({}).catch((e: unknown) => e)) as CredentialError;
    expect(err).toBeInstanceOf(CredentialError);
    expect(err.code).toBe('missing');
    expect(err.message).toMatch(/sealed copy.*could not be fetched.*GATEWAY_URL/);
  });
});

describe('unusable sources', () => {
  test('no source at all names every variable and the login command', async () => {
    const err = (await bootstrap({}).catch((e: unknown) => e)) as CredentialError;
    expect(err).toBeInstanceOf(CredentialError);
    expect(err.code).toBe('missing');
    for (const word of ['ANTHROPIC_API_KEY', 'CLAUDE_REFRESH_TOKEN', 'CLAUDE_CREDENTIALS_FILE', 'login', h.file.path])
      expect(err.message).toContain(word);
  });

  test('an unreadable or malformed CLAUDE_CREDENTIALS_FILE stops the start, naming the variable', async () => {
    const missing = join(h.dir, 'nope.json');
    await expect(bootstrap({ CLAUDE_CREDENTIALS_FILE: missing })).rejects.toMatchObject({
      code: 'unreadable',
      message: expect.stringContaining(`CLAUDE_CREDENTIALS_FILE=${missing}`) as unknown,
    });
    const bad = await writeSourceFile('bad.json', { hello: 'world' });
    await expect(bootstrap({ CLAUDE_CREDENTIALS_FILE: bad })).rejects.toMatchObject({
      code: 'malformed',
      message: expect.stringContaining(`CLAUDE_CREDENTIALS_FILE=${bad}`) as unknown,
    });
  });

  test('a broken volume record is replaced when another source exists, and named when it is the only one', async () => {
    await mkdir(h.config().CREDENTIALS_DIR, { recursive: true });
    await writeFile(h.file.path, 'garbage');
    await expect(bootstrap({})).rejects.toMatchObject({
      code: 'missing',
      message: expect.stringContaining(`unusable: volume record ${h.file.path} (malformed)`) as unknown,
    });
    expect(await readFile(h.file.path, 'utf8')).toBe('garbage');
    const result = await bootstrap({ CLAUDE_REFRESH_TOKEN: 'r-env' });
    expect(result.credential.refresh).toBe('r-env');
    expect(await h.file.read()).toEqual(result.credential);
    expect(h.captured.records().some((r) => r.message === 'credential source unusable')).toBe(true);
  });

  test('a volume that cannot be written stops the start, naming CREDENTIALS_DIR', async () => {
    const blocked = join(h.dir, 'not-a-dir');
    await writeFile(blocked, 'a file where the directory should be');
    const err = (await createAccountAuth({
      config: h.config({ CREDENTIALS_DIR: blocked, CLAUDE_REFRESH_TOKEN: 'r-env' }),
      copy: h.copy,
      egress: h.egress,
      log: h.captured.log,
    }).catch((e: unknown) => e)) as CredentialError;
    expect(err).toBeInstanceOf(CredentialError);
    expect(err.code).toBe('unwritable');
    expect(err.message).toContain('CREDENTIALS_DIR');
  });

  test('an API key account needs no OAuth source and touches neither the volume nor the gateway', async () => {
    const account = await createAccountAuth({
      config: h.config({ ANTHROPIC_API_KEY: 'sk-ant-api03-FAKE-1' }),
      copy: h.copy,
      egress: h.egress,
      log: h.captured.log,
    });
    expect(account.kind).toBe('api_key');
    expect(await h.file.read()).toBeUndefined();
    expect(h.gateway.puts + h.gateway.refused).toBe(0);
  });
});
