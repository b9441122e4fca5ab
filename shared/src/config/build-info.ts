// The version the registry shows. Read from package.json by path (the composition root resolves it), not
// imported: a JSON import needs import attributes, which the tests' CommonJS transform does not take.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PackageJsonSchema = z.object({ version: z.string().min(1) });

/** The `version` of the package.json at `path`, or undefined when it cannot be read (a version is not worth refusing to start over). */
export function readPackageVersion(path: string): string | undefined {
  try {
    const parsed = PackageJsonSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data.version : undefined;
  } catch {
    return undefined;
  }
}
