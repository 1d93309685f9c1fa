import { Writable } from 'node:stream';
import { createLogger, Logger } from '../src/observe/log';

/** The daemon's logger at `level`, written nowhere: benchmarks measure the work, not the terminal. */
export function discardingLogger(level: 'error' | 'warn'): Logger {
  return createLogger(level, new Writable({ write: (_chunk, _encoding, done) => done() }));
}
