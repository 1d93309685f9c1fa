import { Writable } from 'node:stream';
import { Progress } from '../src/replay/progress';

test('a long replay shows lines a second and the share read, at most twice a second, and clears the line at the end', () => {
  let shown = '';
  const terminal = new Writable({ write: (chunk, _encoding, done) => ((shown += chunk), done()) });
  let now = 0;
  let lines = 0;
  const progress = new Progress(
    terminal,
    1000,
    () => lines,
    () => now,
  );
  lines = 400_000;
  now = 200;
  progress.advance(100);
  expect(shown).toBe(''); // not yet half a second
  now = 1000;
  progress.advance(150);
  expect(shown).toBe('\r\x1b[K25% read, 400,000 lines/s');
  progress.done();
  expect(shown.endsWith('\r\x1b[K')).toBe(true);
});

test('stdin has no known size: lines a second only', () => {
  let shown = '';
  const terminal = new Writable({ write: (chunk, _encoding, done) => ((shown += chunk), done()) });
  let now = 0;
  const progress = new Progress(
    terminal,
    0,
    () => 1000,
    () => now,
  );
  now = 2000;
  progress.advance(10);
  expect(shown).toBe('\r\x1b[K500 lines/s');
});
