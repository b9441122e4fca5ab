// The local spool of usage jobs that could not be enqueued: JSON lines in one directory. Appends and
// the rename before a replay go through one chain, so no line can land in a file already being read.
// The lines are usage jobs, prompt and response text included: the directory is 0700 and every file 0600.
import { createReadStream } from 'node:fs';
import { appendFile, chmod, mkdir, open as openFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const CURRENT = 'usage-spool.jsonl';
const SPOOL_FILE = /^usage-spool(\.[0-9a-z.-]+)?\.jsonl$/;
/** Owner only: the spool holds conversation text. */
export const SPOOL_DIR_MODE = 0o700;
export const SPOOL_FILE_MODE = 0o600;
const OWNER_ONLY = { mode: SPOOL_FILE_MODE };

// Someone else's directory (a volume mounted as another user) cannot be narrowed: the files in it still are 0600.
async function narrow(path: string, mode: number): Promise<void> {
  try {
    await chmod(path, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}

export interface UsageSpool {
  /** Creates the directory and counts what a previous process left in it. */
  open(): Promise<void>;
  /** Queues one line for the current file; resolves once it is written (appends are batched). */
  append(line: string): Promise<void>;
  /** Moves the current file aside and returns every file to replay, oldest first (aside ones from earlier runs too). */
  takeAll(): Promise<string[]>;
  /** Calls `onLine` for each line of a taken file, in order, awaiting each call. */
  readLines(file: string, onLine: (line: string) => Promise<void>): Promise<void>;
  /** Deletes a replayed file. */
  remove(file: string): Promise<void>;
  /** Bytes currently spooled (all files). */
  bytes(): number;
  /** Resolves once every queued append is on disk. */
  flushed(): Promise<void>;
}

/**
 * @example
 * const spool = createUsageSpool('./data/usage-spool');
 * await spool.open();
 * await spool.append(JSON.stringify(job));
 */
export function createUsageSpool(dir: string): UsageSpool {
  const current = join(dir, CURRENT);
  let chain: Promise<unknown> = Promise.resolve();
  let pending: string[] = [];
  let written: Promise<void> | undefined;
  let bytes = 0;
  let seq = 0;

  // Runs `op` after every earlier one; an op's failure is its caller's, never the chain's.
  function serial<T>(op: () => Promise<T>): Promise<T> {
    const run = chain.then(op);
    chain = run.catch(() => undefined);
    return run;
  }

  async function writeBatch(): Promise<void> {
    const lines = pending;
    pending = [];
    written = undefined;
    const text = `${lines.join('\n')}\n`;
    await appendFile(current, text, OWNER_ONLY);
    bytes += Buffer.byteLength(text);
  }

  async function spoolFiles(): Promise<string[]> {
    const names = (await readdir(dir)).filter((n) => SPOOL_FILE.test(n));
    // Aside files carry their time of rename: they sort before the current file, oldest first.
    return names.sort((a, b) => (a === CURRENT ? 1 : b === CURRENT ? -1 : a.localeCompare(b))).map((n) => join(dir, n));
  }

  // A crash mid-append leaves a line without its newline: end it, or the next line would be glued to it.
  async function sealTornTail(): Promise<void> {
    let file;
    try {
      file = await openFile(current, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const { size } = await file.stat();
      if (size === 0) return;
      const last = Buffer.alloc(1);
      await file.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await appendFile(current, '\n', OWNER_ONLY);
    } finally {
      await file.close();
    }
  }

  return {
    async open() {
      await mkdir(dir, { recursive: true, mode: SPOOL_DIR_MODE });
      // A directory or files left by an older build (or made by hand) are narrowed too, where this user owns them.
      await narrow(dir, SPOOL_DIR_MODE);
      await sealTornTail();
      bytes = 0;
      for (const file of await spoolFiles()) {
        await narrow(file, SPOOL_FILE_MODE);
        bytes += (await stat(file)).size;
      }
    },
    append(line) {
      pending.push(line);
      written ??= serial(writeBatch);
      return written;
    },
    takeAll() {
      return serial(async () => {
        try {
          const stamp = `${Date.now().toString().padStart(15, '0')}.${process.pid}.${seq++}`;
          await rename(current, join(dir, `usage-spool.${stamp}.jsonl`));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        return (await spoolFiles()).filter((f) => f !== current);
      });
    },
    async readLines(file, onLine) {
      const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) await onLine(line);
    },
    async remove(file) {
      const size = (await stat(file)).size;
      await unlink(file);
      bytes = Math.max(0, bytes - size);
    },
    bytes: () => bytes,
    flushed: () => serial(() => Promise.resolve()),
  };
}
