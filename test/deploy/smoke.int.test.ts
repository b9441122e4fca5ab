// deploy/smoke.sh's parts that need no Docker, run for real: the script is sourced (main does not run) and its
// functions are called against real servers on loopback. The waits: a server that answers 503 a few times and
// then 200 ends the wait; one that never does, or nothing listening, fails it after its (short, test-set)
// deadline with a message naming what it waited for and what it last saw. The admin checks against stand-ins
// for two gateway replicas' admin listeners: the read-only token is what they get, the wait ends once both list
// both nodes on this run's build, and usage counts must match exactly. An admin call that is refused stops the
// run with the status and the gateway's error, never the token. The answer checks against the fake Anthropic
// upstream itself, one text delta per character as in the smoke stack: a whole JSON answer and a whole stream pass, a cut or
// altered one fails. And the test image (deploy/smoke/Dockerfile), built without Docker: it runs the fake with
// the override's own command and health check, and the official SDK script gets the fake's answer from it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseChildEnv, createFakeAnthropic, freePort, type FakeAnthropic } from '@switchyard/testkit';
import { parseCompose, readRepoFile, REPO_ROOT } from './compose-env.js';
import { buildWithoutDocker, copyBuildContext } from './build-without-docker.js';

jest.setTimeout(60_000);

const SCRIPT = join(REPO_ROOT, 'deploy/smoke.sh');
const REPLY_TEXT = /^readonly reply_text='([^']*)'$/m.exec(readRepoFile('deploy/smoke.sh'))![1]!;
const GIT_SHA = 'c'.repeat(40);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sy-smoke-int-'));
  writeFileSync(join(work, 'read.header'), 'authorization: Bearer read-only-token-of-this-test\n');
  writeFileSync(join(work, 'admin.header'), 'authorization: Bearer admin-token-of-this-test\n');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * Sources the script in bash and runs a snippet after it, with tmp set to this test's directory and the waits
 * polling every 0.1 s. Asynchronous: the servers it talks to live in this process.
 */
function sourced(snippet: string, env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `source "$SMOKE_SH"\ntmp=$WORK\n${snippet}`], {
      env: { ...baseChildEnv(), SMOKE_SH: SCRIPT, WORK: work, SMOKE_POLL_INTERVAL: '0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
const servers: Server[] = [];
async function stub(handler: Handler): Promise<string> {
  const { url, server } = await serve(handler);
  servers.push(server);
  return url;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

describe('wait_for_http', () => {
  it('returns once the server answers the wanted status, after it answered 503 a few times', async () => {
    let asked = 0;
    const url = await stub((_req, res) => {
      asked++;
      res.writeHead(asked <= 3 ? 503 : 200).end();
    });
    const run = await sourced('wait_for_http "$URL/health" 200 30 && echo ready', { URL: url });
    expect(run).toMatchObject({ code: 0, stdout: 'ready\n' });
    expect(asked).toBe(4);
  });

  it('passes its extra arguments to curl (a header file)', async () => {
    const url = await stub((req, res) =>
      res.writeHead(req.headers.authorization === 'Bearer read-only-token-of-this-test' ? 200 : 401).end(),
    );
    expect(
      await sourced('wait_for_http "$URL/admin/session" 200 30 -H @"$tmp/read.header" && echo ready', { URL: url }),
    ).toMatchObject({ code: 0, stdout: 'ready\n' });
  });

  it('fails after its deadline, naming what it waited for and the last answer, when the server never gets ready', async () => {
    let asked = 0;
    const url = await stub((_req, res) => {
      asked++;
      res.writeHead(503).end();
    });
    const run = await sourced('wait_for_http "$URL/ready" 200 2; echo "not reached"', { URL: url });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      `[smoke] FAILED: timed out after 2s waiting for ${url}/ready to answer HTTP 200 (last seen: HTTP 503)`,
    );
    expect(asked).toBeGreaterThan(1);
    // The deadline holds (generously: the point is that it ends).
    expect(run.ms).toBeLessThan(20_000);
  });

  it('says so when nothing listens at all', async () => {
    const port = await freePort();
    const run = await sourced(`wait_for_http "http://127.0.0.1:${port}/health" 200 1`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `waiting for http://127.0.0.1:${port}/health to answer HTTP 200 (last seen: no answer)`,
    );
  });
});

describe('the admin checks, against stand-ins for the replicas’ admin listeners', () => {
  const node = (nodeId: string, gitSha = GIT_SHA) => ({ nodeId, gitSha, version: '0.1.0' });

  /** A replica's GET /admin/nodes: the nodes it lists at each successive call (the last one repeats). */
  function replica(lists: ReturnType<typeof node>[][], seen: string[]): Handler {
    let call = 0;
    return (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      if (req.headers.authorization !== 'Bearer read-only-token-of-this-test') return json(res, 401, { type: 'error' });
      json(res, 200, { nodes: lists[Math.min(call++, lists.length - 1)], enrolled: [] });
    };
  }

  it('nodes_connected waits until both replicas list both nodes on this build, asking with the read-only token', async () => {
    const seen: string[] = [];
    const one = await stub(replica([[], [node('node-local')], [node('node-local'), node('node-remote')]], seen));
    const two = await stub(
      replica(
        [
          [node('node-remote', 'b'.repeat(40)), node('node-local')],
          [node('node-remote'), node('node-local')],
        ],
        seen,
      ),
    );
    const run = await sourced(
      `admin1=$ONE admin2=$TWO git_sha=${GIT_SHA}\nwait_until "both nodes" 30 nodes_connected && echo connected`,
      { ONE: one, TWO: two },
    );
    expect(run).toMatchObject({ code: 0, stdout: 'connected\n' });
    expect(new Set(seen)).toEqual(new Set(['GET /admin/nodes Bearer read-only-token-of-this-test']));
  });

  it('nodes_connected fails the wait naming what each replica listed when a node runs another build or is missing', async () => {
    const one = await stub(replica([[node('node-local'), node('node-remote', 'b'.repeat(40))]], []));
    const two = await stub(replica([[node('node-local')]], []));
    const run = await sourced(
      `admin1=$ONE admin2=$TWO git_sha=${GIT_SHA}\nwait_until "both nodes connected" 1 nodes_connected`,
      { ONE: one, TWO: two },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `timed out after 1s waiting for both nodes connected (last seen: ${one}: node-local (ccccccc), node-remote (bbbbbbb))`,
    );
  });

  it('usage_counted waits for exactly the requests sent, none an error, and names what it saw', async () => {
    let counted = 0;
    const url = await stub((req, res) => {
      expect(req.url).toBe('/admin/usage?by=key');
      counted = Math.min(counted + 1, 3);
      json(res, 200, {
        rows: [
          { id: 'other-key', requests: 9, errors: 1 },
          { id: 'key-1', requests: counted, errors: 0 },
        ],
      });
    });
    expect(
      await sourced('admin1=$URL key_id=key-1\nwait_until "usage" 30 usage_counted 3 && echo counted', { URL: url }),
    ).toMatchObject({ code: 0, stdout: 'counted\n' });
    const over = await sourced(
      'admin1=$URL key_id=key-1\nwait_until "GET /admin/usage to count the 2 requests" 1 usage_counted 2',
      { URL: url },
    );
    expect(over.code).toBe(1);
    expect(over.stderr).toContain(
      'waiting for GET /admin/usage to count the 2 requests (last seen: 3 requests counted, 0 errors)',
    );
  });

  it('usage_counted does not accept a request counted as an error', async () => {
    const url = await stub((_req, res) => json(res, 200, { rows: [{ id: 'key-1', requests: 3, errors: 1 }] }));
    const run = await sourced('admin1=$URL key_id=key-1\nwait_until "usage" 1 usage_counted 3', { URL: url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('(last seen: 3 requests counted, 1 errors)');
  });

  it('admin_call writes the answer to its file; a refusal stops the run with the status and the error, never the token', async () => {
    const url = await stub((req, res) => {
      if (req.headers.authorization !== 'Bearer admin-token-of-this-test')
        return json(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'bad token' } });
      if (req.url === '/admin/nodes') return json(res, 201, { nodeId: 'node-remote', token: 'syn-secret-node-token' });
      json(res, 409, {
        type: 'error',
        error: { type: 'conflict_error', message: 'Node node-local is already enrolled' },
      });
    });
    const ok = await sourced(
      'admin_call POST "$URL/admin/nodes" \'{"id":"node-remote"}\' "$tmp/enrol.json" && jq -r .nodeId "$tmp/enrol.json"',
      { URL: url },
    );
    expect(ok).toMatchObject({ code: 0, stdout: 'node-remote\n', stderr: '' });
    const refused = await sourced('admin_call POST "$URL/admin/keys" \'{"name":"x"}\' "$tmp/refused.json"', {
      URL: url,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `FAILED: POST ${url}/admin/keys answered HTTP 409: {"type":"error","error":{"type":"conflict_error","message":"Node node-local is already enrolled"}}`,
    );
    expect(refused.stdout + refused.stderr).not.toContain('admin-token-of-this-test');
  });
});

describe('the answer checks, against the fake upstream answering as in the smoke stack', () => {
  let fake: FakeAnthropic;
  let apiKey: string;
  beforeAll(async () => {
    // As deploy/smoke/stack.override.yml starts it, but with no pause between deltas.
    fake = createFakeAnthropic({
      accounts: [{ id: 'key-1', kind: 'api_key' }],
      timing: { textDeltas: 1000, responseText: REPLY_TEXT },
      recordBodies: false,
    });
    await fake.start();
    apiKey = fake.accounts()[0]!.apiKey!;
    writeFileSync(join(work, 'client.header'), `x-api-key: ${apiKey}\n`);
  });
  afterAll(() => fake.stop());

  it('a whole JSON answer passes check_message; another text fails it, showing the answer', async () => {
    const run = await sourced(
      'edge=$EDGE\nstatus=$(message_request "$tmp/answer.json" --data "$(message_body false)")\necho "$status"\ncheck_message "$tmp/answer.json" "curl through the edge" && echo whole',
      { EDGE: fake.url },
    );
    expect(run).toMatchObject({ code: 0, stdout: '200\nwhole\n' });
    const answer = JSON.parse(readFileSync(join(work, 'answer.json'), 'utf8')) as { model: string };
    expect(answer.model).toBe('claude-sonnet-4-6');
    writeFileSync(
      join(work, 'other.json'),
      JSON.stringify({ ...answer, content: [{ type: 'text', text: 'Something else' }] }),
    );
    const other = await sourced('check_message "$tmp/other.json" "the SDK"');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("FAILED: the SDK: not the fake's whole answer: ");
  });

  it('a whole stream passes check_stream, with one text delta per character', async () => {
    const run = await sourced(
      'edge=$EDGE\nmessage_request "$tmp/stream.sse" -N --data "$(message_body true)"\ncount_deltas "$tmp/stream.sse"\ncheck_stream "$tmp/stream.sse" && echo whole',
      { EDGE: fake.url },
    );
    expect(run).toMatchObject({ code: 0, stdout: `200\n${REPLY_TEXT.length}\nwhole\n`, stderr: '' });
    expect(
      await sourced(
        'deltas_at_least 4 "$tmp/stream.sse" && ! deltas_at_least 1000 "$tmp/stream.sse" && echo "$last_seen"',
      ),
    ).toMatchObject({ code: 0, stdout: `${REPLY_TEXT.length} deltas\n` });
  });

  it.each([
    ['cut before message_stop', (sse: string) => sse.slice(0, sse.lastIndexOf('event: message_stop'))],
    [
      'cut in the middle of the text',
      (sse: string) => sse.slice(0, sse.indexOf('event: content_block_delta', sse.length / 2)),
    ],
    ['missing one delta', (sse: string) => sse.replace(/event: content_block_delta\n(data: [^\n]*\n)\n/, '')],
    [
      'ending in an error event',
      (sse: string) =>
        `${sse.slice(0, sse.lastIndexOf('event: message_delta'))}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`,
    ],
  ])('a stream %s fails check_stream, saying what it saw', async (_name, damage) => {
    writeFileSync(join(work, 'damaged.sse'), damage(readFileSync(join(work, 'stream.sse'), 'utf8')));
    const run = await sourced('check_stream "$tmp/damaged.sse"; echo "not reached"');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      'FAILED: the stream did not end whole (message_start … message_stop, end_turn, the whole text): {"',
    );
  });
});

describe('the test image (deploy/smoke/Dockerfile), built without Docker', () => {
  const override = parseCompose(readRepoFile('deploy/smoke/stack.override.yml'));
  const service = override.services['fake-anthropic']!;
  let dir: string;

  beforeAll(async () => {
    const context = join(work, 'context');
    copyBuildContext(REPO_ROOT, context);
    const image = await buildWithoutDocker({
      dockerfile: join(context, 'deploy/smoke/Dockerfile'),
      context,
      workRoot: join(work, 'image'),
      buildArgs: {},
      skipRunIn: [],
      baseEnv: baseChildEnv(),
    });
    expect(image.user).toBe('node');
    dir = image.dir;
  }, 240_000);

  it('runs the fake with the override’s command, passes the override’s health check, and the official SDK gets the fake’s answer from it', async () => {
    const port = await freePort();
    // The override's command and health check, on a port of this test's instead of 4010, on loopback.
    const command = service.command!.map((arg, i, all) =>
      all[i - 1] === '--port' ? String(port) : all[i - 1] === '--host' ? '127.0.0.1' : arg,
    );
    const fake = spawn(command[0]!, command.slice(1), {
      cwd: dir,
      env: baseChildEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        let out = '';
        fake.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const all = out.split('\n');
          if (all.filter((l) => l.startsWith('api_key ')).length === 2) resolve(all);
        });
        fake.once('exit', (code) => reject(new Error(`the fake exited with ${code}`)));
      });
      expect(lines[0]).toBe(`url http://127.0.0.1:${port}`);
      const key1 = lines.find((l) => l.startsWith('api_key key-1 '))?.split(' ')[2];
      const health = (service.healthcheck?.test as string[])
        .slice(1)
        .map((arg) => arg.replace('127.0.0.1:4010', `127.0.0.1:${port}`));
      const probe = await run(health, dir, {});
      expect(probe.code).toBe(0);
      const sdk = await run(['node', 'deploy/smoke/sdk-request.mjs'], dir, {
        ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
        ANTHROPIC_API_KEY: key1!,
        SMOKE_REPLY_TEXT: REPLY_TEXT,
      });
      expect(sdk).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(sdk.stdout)).toMatchObject({
        text: REPLY_TEXT,
        stop_reason: 'end_turn',
        model: 'claude-sonnet-4-6',
      });
      // The script refuses to run without its environment (it would otherwise fall back to the real API).
      const bare = await run(['node', 'deploy/smoke/sdk-request.mjs'], dir, {});
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('set ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, SMOKE_REPLY_TEXT');
    } finally {
      fake.kill('SIGTERM');
    }
  });
});

function run(argv: string[], cwd: string, env: Record<string, string>): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { ...baseChildEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}
