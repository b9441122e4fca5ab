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
  return new FileUsageSpool(dir);
}

class FileUsageSpool implements UsageSpool {
  readonly #dir: string;
  readonly #current: string;
  #chain: Promise<unknown> = Promise.resolve();
  #pending: string[] = [];
  #written: Promise<void> | undefined;
  #bytes = 0;
  #seq = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.#current = join(dir, CURRENT);
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: SPOOL_DIR_MODE });
    // A directory or files left by an older build (or made by hand) are narrowed too, where this user owns them.
    await narrow(this.#dir, SPOOL_DIR_MODE);
    await sealTornTail(this.#current);
    this.#bytes = 0;
    for (const file of await this.#spoolFiles()) {
      await narrow(file, SPOOL_FILE_MODE);
      this.#bytes += (await stat(file)).size;
    }
  }

  append(line: string): Promise<void> {
    this.#pending.push(line);
    this.#written ??= this.#serial(() => this.#writeBatch());
    return this.#written;
  }

  takeAll(): Promise<string[]> {
    return this.#serial(async () => {
      try {
        const stamp = `${Date.now().toString().padStart(15, '0')}.${process.pid}.${this.#seq++}`;
        await rename(this.#current, join(this.#dir, `usage-spool.${stamp}.jsonl`));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return (await this.#spoolFiles()).filter((f) => f !== this.#current);
    });
  }

  async readLines(file: string, onLine: (line: string) => Promise<void>): Promise<void> {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) await onLine(line);
  }

  async remove(file: string): Promise<void> {
    const size = (await stat(file)).size;
    await unlink(file);
    this.#bytes = Math.max(0, this.#bytes - size);
  }

  bytes(): number {
    return this.#bytes;
  }

  flushed(): Promise<void> {
    return this.#serial(() => Promise.resolve());
  }

  // Runs `op` after every earlier one; an op's failure is its caller's, never the chain's.
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(op);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #writeBatch(): Promise<void> {
    const lines = this.#pending;
    this.#pending = [];
    this.#written = undefined;
    const text = `${lines.join('\n')}\n`;
    await appendFile(this.#current, text, OWNER_ONLY);
    this.#bytes += Buffer.byteLength(text);
  }

  async #spoolFiles(): Promise<string[]> {
    const names = (await readdir(this.#dir)).filter((n) => SPOOL_FILE.test(n));
    // Aside files carry their time of rename: they sort before the current file, oldest first.
    return names
      .sort((a, b) => (a === CURRENT ? 1 : b === CURRENT ? -1 : a.localeCompare(b)))
      .map((n) => join(this.#dir, n));
  }
}

// A crash mid-append leaves a line without its newline: end it, or the next line would be glued to it.
async function sealTornTail(current: string): Promise<void> {
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
