import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The compiled script of a worker in this folder (`name` without `.js`). Tests run the TypeScript
 * sources, where there is none beside this file, so they take it from dist (built by pretest).
 */
export function workerScript(name: string): string {
  const beside = join(__dirname, `${name}.js`);
  return existsSync(beside) ? beside : resolve(__dirname, `../../dist/src/ingest/${name}.js`);
}
