/**
 * The stages of src/ in the order data flows, each folder a stage: a module may import from its
 * own stage and the stages before it, never from one after it. Foundations (common, address)
 * come first; the parsers (syslog, wordpress) before decode, which drives them; config before
 * the stages it configures; cluster (the windows several receivers keep in Valkey or Redis) after
 * the policy it serves; observe, replay, the daemon and the command line last, as they wire
 * the rest together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const STAGES = [
  'common',
  'address',
  'syslog',
  'wordpress',
  'config',
  'ingest',
  'decode',
  'policy',
  'cluster',
  'bans',
  'cloudflare',
  'observe',
  'replay',
  'daemon',
  'cli',
];
const SRC = resolve(__dirname, '../src');

/** The stage of a file under src/: its folder, or its own name for a file at the top. */
function stageOf(file: string): string {
  const [first] = relative(SRC, file).split('/');
  return first.replace(/\.ts$/, '');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Every relative module a file imports, requires or imports dynamically, as an absolute path. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'(\.{1,2}\/[^']+)'/g)].map((match) => match[1]);
  return specifiers.map((specifier) => resolve(dirname(file), specifier));
}

/** "a → b" for every import that runs against the stage order. */
export function violations(files: string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const from = STAGES.indexOf(stageOf(file));
    for (const target of importsOf(file)) {
      const to = STAGES.indexOf(stageOf(target));
      if (to > from) found.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
    }
  }
  return found;
}

test('every folder and top-level file of src/ has its place in the stage order', () => {
  const stages = new Set(sourceFiles(SRC).map(stageOf));
  expect([...stages].filter((stage) => !STAGES.includes(stage))).toEqual([]);
});

test('no module imports a stage after its own', () => {
  expect(violations(sourceFiles(SRC))).toEqual([]);
});

test('the check finds an import against the order', () => {
  // ingest importing decode, as it once did: a file written for the test would be caught the same way
  const file = join(SRC, 'ingest/listeners.ts');
  const text = `${readFileSync(file, 'utf8')}\nimport { Decoder } from '../decode/decoder';\n`;
  const spy = jest
    .spyOn(require('node:fs'), 'readFileSync')
    .mockImplementation((...args: unknown[]) => (args[0] === file ? text : jest.requireActual('node:fs').readFileSync(...args)));
  try {
    expect(violations([file])).toEqual(['ingest/listeners.ts → decode/decoder']);
  } finally {
    spy.mockRestore();
  }
});
