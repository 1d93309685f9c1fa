/**
 * What fail2ban-regex does, done by edgeban's own code: read a log file, parse and recognise every
 * line on one thread, and count the matches by class. No policy, no output but the count. The
 * fail2ban bench runs it as a process of its own on the same file, so its time, like
 * fail2ban-regex's, runs from process start to exit.
 *
 * node dist/bench/recognise-file.js FILE → {"lines":…,"classes":{…}}
 */
import { decodeHere } from '../src/ingest/decode-thread';
import { Decoder } from '../src/pipeline';
import { openReplayInput, wholeLines } from '../src/replay/replay';

async function count(file: string): Promise<{ lines: number; classes: Record<string, number> }> {
  const decoder = new Decoder('message', true);
  const now = Date.now();
  const classes: Record<string, number> = {};
  let lines = 0;
  for await (const chunk of wholeLines(openReplayInput(file), Infinity, () => undefined)) {
    decodeHere(decoder, { chunk, receivedAt: now, maxLineBytes: Infinity, mayRepeat: true }, (decoded) => {
      lines++;
      if (decoded.type === 'event') classes[decoded.event.class] = (classes[decoded.event.class] ?? 0) + 1;
    });
  }
  return { lines, classes };
}

if (require.main === module) void count(process.argv[2]).then((result) => console.log(JSON.stringify(result)));
