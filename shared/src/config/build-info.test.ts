import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPackageVersion } from './build-info.js';

describe('readPackageVersion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-build-info-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('reads the version field', () => {
    const path = join(dir, 'package.json');
    writeFileSync(path, JSON.stringify({ name: '@switchyard/node-agent', version: '1.2.3' }));
    expect(readPackageVersion(path)).toBe('1.2.3');
  });

  test('a missing, malformed or versionless file gives undefined instead of stopping the node', () => {
    expect(readPackageVersion(join(dir, 'absent.json'))).toBeUndefined();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version":');
    expect(readPackageVersion(bad)).toBeUndefined();
    const versionless = join(dir, 'versionless.json');
    writeFileSync(versionless, '{"name":"x"}');
    expect(readPackageVersion(versionless)).toBeUndefined();
  });
});
