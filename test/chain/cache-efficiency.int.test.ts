// Cache efficiency end to end: gateway → 2 node-agents → the fake upstream (a prompt cache per account) → the usage
// worker. A 10-turn conversation with cache breakpoints that keeps its account reads from the cache on every turn
// after the first; the same conversation moved to the other account half-way (its node drained) misses once more,
// and the usage rows show the miss, the moves and the savings lost.
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(240_000);

const MODEL = 'claude-sonnet-4-6';
const TURNS = 10;
/** The turn before which the moved run's node is drained. */
const MOVE_AT = 6;

let chain: Stack;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true, nodeIds: ['node-a', 'node-b'] });
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
});

interface Block {
  type: 'text';
  text: string;
  cache_control?: { type: 'ephemeral' };
}

/** One conversation: its key, its session and its history so far. */
interface Conversation {
  key: string;
  keyId: string;
  sessionId: string;
  /** Same length in both runs, so both send the same number of tokens each turn. */
  tag: string;
  history: { role: 'user' | 'assistant'; content: Block[] }[];
}

const question = (turn: number) =>
  `Turn ${turn}: which siding takes the ${turn % 2 === 0 ? 'grain' : 'coal'} wagons of train ${turn * 41}, and why that one?`;

/**
 * Sends the next turn as Claude Code does: the system prompt and the newest message carry a cache breakpoint, the
 * earlier turns none (the cache finds the previous turn's prefix by looking back from the new breakpoint).
 */
async function sendTurn(c: Conversation, turn: number): Promise<void> {
  const messages = [
    ...c.history,
    {
      role: 'user' as const,
      content: [{ type: 'text' as const, text: question(turn), cache_control: { type: 'ephemeral' as const } }],
    },
  ];
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': c.key,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-claude-code-session-id': c.sessionId,
    },
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 256,
      system: [
        {
          type: 'text',
          text: `You plan shunting moves in freight yards (${c.tag}). ${'Answer with the siding and one reason. '.repeat(40)}`,
          cache_control: { type: 'ephemeral' },
        },
      ],
      messages,
    }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`turn ${turn} answered ${res.status}: ${text}`);
  const answer = (JSON.parse(text) as { content: { type: string; text?: string }[] }).content
    .map((b) => b.text ?? '')
    .join('');
  c.history.push(
    { role: 'user', content: [{ type: 'text', text: question(turn) }] },
    { role: 'assistant', content: [{ type: 'text', text: answer }] },
  );
}

async function conversation(tag: string): Promise<Conversation> {
  const { key, id } = await chain.createKey();
  return { key, keyId: id, sessionId: `session-${tag}-${process.pid}`, tag, history: [] };
}

interface RecentView {
  at: number;
  keyId: string;
  nodeId: string | null;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  cacheSavingsMicros: number;
}

interface UsageRowView {
  id: string;
  requests: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  cacheMisses: number;
  stickyMoves: number;
  cacheSavingsMicros: number;
}

async function adminJson<T>(path: string): Promise<T> {
  const res = await chain.admin('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The key's counted requests, oldest first, once the worker has counted `n` of them. */
async function countedTurns(keyId: string, n: number): Promise<RecentView[]> {
  return waitFor(
    `${n} requests of the key counted`,
    async () => {
      const { requests } = await adminJson<{ requests: RecentView[] }>('/usage/recent?limit=200');
      const mine = requests.filter((r) => r.keyId === keyId).sort((a, b) => a.at - b.at);
      return mine.length >= n && mine;
    },
    { timeoutMs: 60_000, intervalMs: 200, detail: () => chain.worker?.output() ?? '' },
  );
}

async function waitForDrainSeen(nodeId: string, drained: boolean): Promise<void> {
  await waitFor(
    `the gateway to see ${nodeId} ${drained ? 'drained' : 'resumed'}`,
    async () => {
      const { nodes } = await adminJson<{ nodes: { nodeId: string; adminDrained: boolean }[] }>('/nodes');
      return nodes.find((n) => n.nodeId === nodeId)?.adminDrained === drained;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

const rowOf = (rows: UsageRowView[], id: string): UsageRowView => {
  const row = rows.find((r) => r.id === id);
  if (row === undefined) throw new Error(`no usage row for ${id}`);
  return row;
};

it('a conversation kept on its account reads from the cache on turns 2–10; moved across accounts it misses and loses savings', async () => {
  // 1. Sticky: ten turns, one account.
  const sticky = await conversation('run-s');
  for (let turn = 1; turn <= TURNS; turn++) await sendTurn(sticky, turn);

  // 2. Moved: the same ten turns (a tag of the same length keeps the two runs apart in the cache); before turn 6 its
  //    node is drained, so turns 6–10 go to the other account while the conversation stays pinned to its home.
  const moved = await conversation('run-m');
  for (let turn = 1; turn < MOVE_AT; turn++) await sendTurn(moved, turn);
  const home = (await countedTurns(moved.keyId, MOVE_AT - 1))[0]?.nodeId as string;
  expect((await chain.admin('POST', `/nodes/${home}/drain`)).status).toBe(200);
  try {
    await waitForDrainSeen(home, true);
    for (let turn = MOVE_AT; turn <= TURNS; turn++) await sendTurn(moved, turn);
  } finally {
    await chain.admin('POST', `/nodes/${home}/resume`);
  }

  const s = await countedTurns(sticky.keyId, TURNS);
  const m = await countedTurns(moved.keyId, TURNS);
  expect(s).toHaveLength(TURNS);
  expect(m).toHaveLength(TURNS);

  // The sticky run: one account; turn 1 writes the cache, turns 2–10 read it.
  expect(new Set(s.map((r) => r.nodeId)).size).toBe(1);
  expect(s[0]).toMatchObject({ cacheReadInputTokens: 0 });
  expect(s[0]?.cacheCreationInputTokens).toBeGreaterThan(0);
  for (const r of s.slice(1)) expect(r.cacheReadInputTokens).toBeGreaterThan(0);

  // The moved run: turns 1–5 on its home, 6–10 on the other account; turn 6 finds nothing cached there.
  const other = m[MOVE_AT - 1]?.nodeId as string;
  expect(other).not.toBe(home);
  expect(m.map((r) => r.nodeId)).toEqual([
    ...Array<string>(MOVE_AT - 1).fill(home),
    ...Array<string>(TURNS - MOVE_AT + 1).fill(other),
  ]);
  const missed = m[MOVE_AT - 1] as RecentView;
  expect(missed.cacheReadInputTokens).toBe(0);
  expect(missed.cacheCreationInputTokens).toBeGreaterThan(0);
  for (const [i, r] of m.entries()) if (i !== 0 && i !== MOVE_AT - 1) expect(r.cacheReadInputTokens).toBeGreaterThan(0);

  // Both runs send the same tokens each turn: what the moved run did not read at turn 6 it wrote again, and every
  // other turn reads exactly what the sticky run read.
  const lost = (s[MOVE_AT - 1] as RecentView).cacheReadInputTokens;
  expect(lost).toBeGreaterThan(0);
  for (const [i, r] of m.entries())
    if (i !== MOVE_AT - 1) expect(r.cacheReadInputTokens).toBe(s[i]?.cacheReadInputTokens);

  // The usage rows by key: one miss and no move for the sticky run; two misses and five moves for the moved one.
  const byKey = (await adminJson<{ rows: UsageRowView[] }>('/usage?by=key')).rows;
  const sRow = rowOf(byKey, sticky.keyId);
  const mRow = rowOf(byKey, moved.keyId);
  expect(sRow).toMatchObject({ requests: TURNS, cacheMisses: 1, stickyMoves: 0 });
  expect(mRow).toMatchObject({ requests: TURNS, cacheMisses: 2, stickyMoves: TURNS - MOVE_AT + 1 });
  expect(mRow.cacheReadInputTokens).toBe(sRow.cacheReadInputTokens - lost);
  expect(mRow.cacheCreationInputTokens).toBe(sRow.cacheCreationInputTokens + lost);
  expect(sRow.cacheReadInputTokens).toBe(s.reduce((n, r) => n + r.cacheReadInputTokens, 0));

  // By node: the moves are counted on the account that answered them, the home none.
  const byNode = (await adminJson<{ rows: UsageRowView[] }>('/usage?by=node')).rows;
  expect(rowOf(byNode, other).stickyMoves).toBe(TURNS - MOVE_AT + 1);
  expect(rowOf(byNode, home).stickyMoves).toBe(0);

  // The savings lost: caching saved less on the moved run, by exactly what turn 6 saved on the sticky run and cost
  // on the moved one (the cache write it had to make again).
  expect(sRow.cacheSavingsMicros).toBeGreaterThan(0);
  const turn6Loss = (s[MOVE_AT - 1] as RecentView).cacheSavingsMicros - missed.cacheSavingsMicros;
  expect(turn6Loss).toBeGreaterThan(0);
  expect(sRow.cacheSavingsMicros - mRow.cacheSavingsMicros).toBe(turn6Loss);
  expect(sRow.cacheSavingsMicros).toBe(s.reduce((n, r) => n + r.cacheSavingsMicros, 0));
  const figures = (r: UsageRowView) =>
    `read ${r.cacheReadInputTokens}, written ${r.cacheCreationInputTokens}, misses ${r.cacheMisses}, moves ${r.stickyMoves}, saved ${r.cacheSavingsMicros} µ$`;
  console.log(`cache efficiency, 10 turns: sticky ${figures(sRow)}; moved at turn ${MOVE_AT} ${figures(mRow)}`);
});
