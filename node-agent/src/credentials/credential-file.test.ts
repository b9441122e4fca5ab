import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCredentialFile } from './credential-file.js';
import { CredentialError } from './oauth-credential.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sy-credfile-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

const cred = (n: number) => ({ type: 'oauth' as const, refresh: `r-${n}`, access: `a-${n}`, expires: n });

describe('the credential record on the volume', () => {
  test('writes CREDENTIALS_DIR/<nodeId>.json in the opencode format with mode 0600, creating the directory', async () => {
    const dir = join(root, 'nested', 'credentials');
    const file = createCredentialFile(dir, 'node-a');
    await file.write(cred(1));
    expect(file.path).toBe(join(dir, 'node-a.json'));
    expect(JSON.parse(await readFile(file.path, 'utf8'))).toEqual(cred(1));
    expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    expect(await file.read()).toEqual(cred(1));
  });

  test('replaces an existing file (even one with looser permissions) and leaves no temp files behind', async () => {
    const file = createCredentialFile(root, 'node-a');
    await writeFile(file.path, 'old', { mode: 0o644 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => file.write(cred(n))));
    expect(await readdir(root)).toEqual(['node-a.json']);
    expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    const last = await file.read();
    expect([1, 2, 3, 4, 5].map((n) => cred(n))).toContainEqual(last);
  });

  test('reads as undefined when absent, and names the file when it is broken', async () => {
    const file = createCredentialFile(root, 'node-a');
    expect(await file.read()).toBeUndefined();
    await writeFile(file.path, '{"type":"oauth"');
    await expect(file.read()).rejects.toBeInstanceOf(CredentialError);
    await expect(file.read()).rejects.toThrow(file.path);
  });
});
