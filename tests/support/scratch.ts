import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

/** A fresh folder under this run's scratch root, which the global teardown removes. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(inject('scratchRoot'), `${prefix}-`));
}
