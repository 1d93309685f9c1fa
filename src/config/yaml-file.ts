import { readFileSync } from 'node:fs';
import { describeError, errnoCode } from '../common/errors';

/** A config file read and parsed but not yet validated, or what kept it from being read. */
export type ReadConfigFile = { document: unknown } | { problem: string };

/**
 * Reads and parses a YAML config file, validating nothing: the part of loading a config that
 * needs neither zod nor the schema, so that a thread can do it while the main thread loads them.
 * The YAML parser is loaded when a file is read: the embedded default needs none.
 */
export function readConfigFile(file: string): ReadConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { problem: `cannot read ${file}: ${errnoCode(error) ?? describeError(error)}` };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load
    return { document: (require('yaml') as typeof import('yaml')).parse(text) };
  } catch (error) {
    return { problem: `${file} is not valid YAML: ${describeError(error).split('\n')[0]}` };
  }
}
