// A fact the code relies on is written down inside the repository (docs/ANTHROPIC.md, docs/MEASURED.md, …), and
// comments point there: no file names a document that lives outside it (the team's shared notes beside the repo,
// which a clone does not have).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: ROOT,
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => /\.(ts|js|mjs|cjs|md|sh|yml)$/.test(f) && !f.startsWith('node_modules/'));

/**
 * A reference to a document outside the repository in a line of `file`, or '' when the line has none. In docs/
 * a bare MEASURED.md is docs/MEASURED.md, its sibling; elsewhere the team's notes' names stand for the originals.
 */
function outsidePointer(line: string, file = 'gateway/src/x.ts'): string {
  if (/\/work\/shared\b/.test(line)) return '/work/shared';
  if (file.startsWith('docs/')) return '';
  return /(?<![\w/#[-])(PROTOCOL|MEASURED|CONVENTIONS)\.md\b/.exec(line)?.[0] ?? '';
}

describe('documents the code points at', () => {
  it('are inside the repository', () => {
    const found: string[] = [];
    for (const file of files.filter((f) => f !== 'test/lint/doc-pointers.test.ts')) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (outsidePointer(line, file) !== '') found.push(`${file}:${i + 1}: ${line.trim().slice(0, 100)}`);
        });
    }
    expect(found).toEqual([]);
  });

  it('a pointer outside is found (so the check above can fail)', () => {
    expect(outsidePointer('// the beta header (PROTOCOL.md §2)')).toBe('PROTOCOL.md');
    expect(outsidePointer('see /work/shared/MEASURED.md')).toBe('/work/shared');
    expect(outsidePointer('// js-tiktoken costs ~140 MB (MEASURED.md)')).toBe('MEASURED.md');
    expect(outsidePointer('// the beta header (docs/ANTHROPIC.md §2)')).toBe('');
    expect(outsidePointer('// (docs/MEASURED.md §5: 1.4 s)')).toBe('');
    expect(outsidePointer('[MEASURED.md §1](MEASURED.md#client-aborts)', 'docs/USAGE.md')).toBe('');
    expect(outsidePointer('as MEASURED.md found', 'BENCHMARKS.md')).toBe('MEASURED.md');
  });
});
