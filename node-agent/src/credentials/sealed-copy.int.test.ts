// The sealed copy against a real HTTP stand-in of the gateway route on loopback: what load() makes of each answer,
// save() retrying in the background with the newest record winning, and the plain-http rule for GATEWAY_URL.
import { createNullLogger, NodeTokens, sealForNode } from '@switchyard/shared';
import type { OAuthCredential } from './oauth-credential.js';
import { createSealedCopy, SealedCopyError, type SealedCopy } from './sealed-copy.js';
import { captureLog, startCredentialServer, type CredentialServer } from './test-harness.js';
import { waitFor } from '@switchyard/testkit';

const cred = (n: number): OAuthCredential => ({ type: 'oauth', refresh: `r-${n}`, access: `a-${n}`, expires: n });

let gateway: CredentialServer;
let token: string;
const copies: SealedCopy[] = [];
const captured = captureLog();

beforeEach(async () => {
  token = NodeTokens.generate();
  gateway = await startCredentialServer('node-a', token);
});
afterEach(async () => {
  for (const c of copies.splice(0)) c.close();
  await gateway.down();
});

function copyOf(opts: Partial<Parameters<typeof createSealedCopy>[0]> = {}): SealedCopy {
  const copy = createSealedCopy({
    gatewayUrl: gateway.url,
    nodeId: 'node-a',
    token,
    log: captured.log,
    backoff: { baseMs: 20, maxMs: 200 },
    loadPatienceMs: 1_000,
    ...opts,
  });
  copies.push(copy);
  return copy;
}

test('save seals and PUTs; load opens it; 404 before any save is undefined', async () => {
  const copy = copyOf();
  expect(await copy.load()).toBeUndefined();
  copy.save(cred(1));
  expect(await copy.flush(5_000)).toBe(true);
  expect(gateway.sealed).toMatch(/^sy1\./);
  expect(gateway.sealed).not.toContain('r-1');
  expect(await copy.load()).toEqual(cred(1));
  // A trailing slash on GATEWAY_URL changes nothing.
  expect(await copyOf({ gatewayUrl: `${gateway.url}/` }).load()).toEqual(cred(1));
});

test('a copy that does not open (another token, altered, not a credential) is undefined, with one warning per copy', async () => {
  const log = captureLog();
  const copy = copyOf({ log: log.log });
  gateway.sealed = sealForNode(NodeTokens.generate(), 'node-a', JSON.stringify(cred(1)));
  expect(await copy.load()).toBeUndefined();
  gateway.sealed = sealForNode(token, 'node-a', 'not a credential');
  expect(await copy.load()).toBeUndefined();
  gateway.sealed = `${sealForNode(token, 'node-a', JSON.stringify(cred(1))).slice(0, -4)}AAAA`;
  expect(await copy.load()).toBeUndefined();
  expect(log.records().filter((r) => r.level === 'warn')).toHaveLength(1);
  expect(log.lines().join('\n')).not.toContain(token);
});

test('a refused token rejects load at once with SealedCopyError(refused); an unreachable gateway after the patience with (unreachable)', async () => {
  gateway.token = NodeTokens.generate();
  await expect(copyOf().load()).rejects.toMatchObject({ code: 'refused' });
  await gateway.down();
  const err = await copyOf()
    .load({ patienceMs: 300 })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SealedCopyError);
  expect(err).toMatchObject({ code: 'unreachable' });
});

test('load retries 5xx and network failures within its patience', async () => {
  gateway.sealed = sealForNode(token, 'node-a', JSON.stringify(cred(7)));
  let calls = 0;
  const flaky: typeof fetch = async (input, init) => {
    calls += 1;
    if (calls === 1) throw new TypeError('fetch failed');
    if (calls === 2) return new Response('{}', { status: 503 });
    return fetch(input, init);
  };
  expect(await copyOf({ fetchImpl: flaky }).load({ patienceMs: 5_000 })).toEqual(cred(7));
  expect(calls).toBe(3);
});

test('saves while the gateway is down retry in the background; the newest wins and lands once it is back', async () => {
  const log = captureLog();
  const copy = copyOf({ log: log.log });
  await gateway.down();
  copy.save(cred(1));
  copy.save(cred(2));
  expect(await copy.flush(200)).toBe(false);
  copy.save(cred(3));
  await gateway.up();
  expect(await copy.flush(5_000)).toBe(true);
  expect(await copy.load()).toEqual(cred(3));
  expect(gateway.puts).toBe(1);
  await waitFor('two log lines', () => log.records().length === 2, 5_000);
  expect(log.records().map((r) => r.message)).toEqual([
    'sealed credential copy not stored at the gateway, retrying in the background',
    'sealed credential copy stored at the gateway',
  ]);
});

test('close() drops a pending save and stops retrying', async () => {
  const log = captureLog();
  const copy = copyOf({ log: log.log });
  await gateway.down();
  copy.save(cred(1));
  await waitFor('the first attempt to fail', () => log.lines().length > 0, 5_000);
  copy.close();
  await gateway.up();
  await new Promise((r) => setTimeout(r, 500));
  expect(gateway.puts).toBe(0);
  copy.save(cred(2));
  expect(gateway.puts).toBe(0);
});

test('plain http only to loopback or private addresses, or with allowHttp (the GATEWAY_URL rule of the config)', () => {
  const make = (gatewayUrl: string, allowHttp?: boolean) => () =>
    createSealedCopy({
      gatewayUrl,
      nodeId: 'node-a',
      token,
      log: createNullLogger(),
      ...(allowHttp === undefined ? {} : { allowHttp }),
    }).close();
  expect(make('https://gateway.example.com')).not.toThrow();
  expect(make('http://127.0.0.1:8080')).not.toThrow();
  expect(make('http://10.1.2.3')).not.toThrow();
  expect(make('http://[::1]:8080')).not.toThrow();
  expect(make('http://gateway.example.com')).toThrow(
    /GATEWAY_URL plain http to gateway.example.com.*GATEWAY_ALLOW_HTTP/,
  );
  expect(make('http://8.8.8.8')).toThrow(/GATEWAY_ALLOW_HTTP/);
  expect(make('http://gateway.example.com', true)).not.toThrow();
  expect(make('ftp://127.0.0.1', true)).toThrow();
});
