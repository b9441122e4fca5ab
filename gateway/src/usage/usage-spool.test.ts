// The spool on a real directory: whole lines only, nothing lost between appends and a replay's take.
import { appendFile, chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUsageSpool, SPOOL_DIR_MODE, SPOOL_FILE_MODE } from './usage-spool.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-spool-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function linesOf(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
}

async function diskBytes(): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

const line = (i: number) => JSON.stringify({ requestId: `req_${i}`, pad: 'x'.repeat(i % 50) });

test('concurrent appends land as whole lines, in order, and bytes() matches the disk', async () => {
  const spool = createUsageSpool(dir);
  await spool.open();
  await Promise.all(Array.from({ length: 500 }, (_, i) => spool.append(line(i))));
  expect(await linesOf(join(dir, 'usage-spool.jsonl'))).toEqual(Array.from({ length: 500 }, (_, i) => line(i)));
  expect(spool.bytes()).toBe(await diskBytes());
});

test('appends racing a take: every line ends up in exactly one file, none split', async () => {
  const spool = createUsageSpool(dir);
  await spool.open();
  const written: Promise<void>[] = [];
  const taken: string[][] = [];
  for (let i = 0; i < 300; i++) {
    written.push(spool.append(line(i)));
    if (i % 70 === 0) taken.push(await spool.takeAll());
  }
  await Promise.all(written);
  taken.push(await spool.takeAll());
  const files = [...new Set(taken.flat())];
  const all: string[] = [];
  for (const file of files) all.push(...(await linesOf(file)));
  expect(all.sort()).toEqual(Array.from({ length: 300 }, (_, i) => line(i)).sort());
  expect(spool.bytes()).toBe(await diskBytes());
});

test('takeAll lists the files oldest first, earlier runs included, and remove() keeps the count right', async () => {
  await writeFile(join(dir, 'usage-spool.000000000000001.99.0.jsonl'), `${line(1)}\n`);
  await writeFile(join(dir, 'usage-spool.jsonl'), `${line(2)}\n`);
  await writeFile(join(dir, 'not-a-spool.txt'), 'ignore me');
  const spool = createUsageSpool(dir);
  await spool.open();
  expect(spool.bytes()).toBe(line(1).length + line(2).length + 2);
  const files = await spool.takeAll();
  expect(files).toHaveLength(2);
  expect(await linesOf(files[0]!)).toEqual([line(1)]);
  expect(await linesOf(files[1]!)).toEqual([line(2)]);
  for (const f of files) await spool.remove(f);
  expect(spool.bytes()).toBe(0);
  expect(await readdir(dir)).toEqual(['not-a-spool.txt']);
});

test('a torn tail left by a crash is sealed at open: the next line is not glued to it', async () => {
  await writeFile(join(dir, 'usage-spool.jsonl'), `${line(1)}\n{"requestId":"req_to`);
  const spool = createUsageSpool(dir);
  await spool.open();
  await spool.append(line(3));
  const lines: string[] = [];
  const [file] = await spool.takeAll();
  await spool.readLines(file!, (l) => {
    lines.push(l);
    return Promise.resolve();
  });
  expect(lines).toEqual([line(1), '{"requestId":"req_to', line(3)]);
});

test('open() on a missing directory creates it; on an empty file it changes nothing', async () => {
  const nested = join(dir, 'a', 'b');
  const spool = createUsageSpool(nested);
  await spool.open();
  expect(spool.bytes()).toBe(0);
  await writeFile(join(nested, 'usage-spool.jsonl'), '');
  await createUsageSpool(nested).open();
  expect((await stat(join(nested, 'usage-spool.jsonl'))).size).toBe(0);
  // A file someone else appended to meanwhile is still counted at the next open.
  await appendFile(join(nested, 'usage-spool.jsonl'), `${line(5)}\n`);
  const again = createUsageSpool(nested);
  await again.open();
  expect(again.bytes()).toBe(line(5).length + 1);
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

test('holds conversation text for its owner only: the directory 0700, every file 0600, whatever the umask', async () => {
  const previous = process.umask(0o000);
  try {
    const spoolDir = join(dir, 'nested', 'spool');
    const spool = createUsageSpool(spoolDir);
    await spool.open();
    expect(await modeOf(spoolDir)).toBe(0o700);
    await spool.append(line(1));
    expect(await modeOf(join(spoolDir, 'usage-spool.jsonl'))).toBe(0o600);
    const [aside] = await spool.takeAll();
    expect(await modeOf(aside ?? '')).toBe(0o600);
    await spool.append(line(2));
    for (const name of await readdir(spoolDir))
      expect([name, await modeOf(join(spoolDir, name))]).toEqual([name, 0o600]);
  } finally {
    process.umask(previous);
  }
  expect([SPOOL_DIR_MODE, SPOOL_FILE_MODE]).toEqual([0o700, 0o600]);
});

test('narrows a directory and files an older build left readable to others', async () => {
  const spoolDir = join(dir, 'old');
  await createUsageSpool(spoolDir).open();
  await chmod(spoolDir, 0o755);
  await writeFile(join(spoolDir, 'usage-spool.jsonl'), `${line(1)}\n`, { mode: 0o644 });
  await writeFile(join(spoolDir, 'usage-spool.000000000000001.1.0.jsonl'), `${line(2)}\n`, { mode: 0o644 });
  await chmod(join(spoolDir, 'usage-spool.jsonl'), 0o644);
  const spool = createUsageSpool(spoolDir);
  await spool.open();
  expect(await modeOf(spoolDir)).toBe(0o700);
  for (const name of await readdir(spoolDir)) expect([name, await modeOf(join(spoolDir, name))]).toEqual([name, 0o600]);
});
