import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The compiled script of a worker, `src/<stage>/<name>.js`. Tests run the TypeScript sources,
 * where there is no such file, so they take it from dist (built by pretest).
 */
export function workerScript(stage: string, name: string): string {
  const compiled = join(__dirname, '..', stage, `${name}.js`);
  return existsSync(compiled) ? compiled : resolve(__dirname, `../../dist/src/${stage}/${name}.js`);
}
