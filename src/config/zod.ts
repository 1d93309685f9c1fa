import Module from 'node:module';

/**
 * zod, without its translations. zod's entry point loads every locale it ships (dozens of
 * files, a visible share of the daemon's start) to export them as `z.locales`, which edgeban never
 * reads: its messages are English, and the English locale is loaded on its own. The index of the
 * locales is answered from the module cache with an empty module before zod asks for it. Should a
 * later zod move it, nothing is stubbed and everything still works, a little slower.
 */
function skipLocaleIndex(): void {
  let index: string;
  try {
    index = require.resolve('zod/v4/locales');
  } catch {
    return;
  }
  if (require.cache[index]) return;
  const stub = new Module(index);
  stub.filename = index;
  stub.loaded = true;
  require.cache[index] = stub;
}

skipLocaleIndex();

// after the stub: a re-export is required where it stands, not hoisted
export { z } from 'zod';
