/**
 * What fail2ban-regex does, done by edgeban's own code: read a log file, parse and recognise every
 * line on one thread, and count the matches by class. No policy, no output but the count. The
 * fail2ban bench runs it as a process of its own on the same file, so its time, like
 * fail2ban-regex's, runs from process start to exit.
 *
 * node dist/bench/recognise-file.js FILE → {"lines":…,"classes":{…}}
 */
import { createReadStream } from 'node:fs';
import { lineTexts } from '../src/ingest/frame-batch';
import { Decoder } from '../src/pipeline';

async function count(file: string): Promise<{ lines: number; classes: Record<string, number> }> {
  const decoder = new Decoder('message', true);
  const now = Date.now();
  const classes: Record<string, number> = {};
  let lines = 0;
  let carry: Buffer = Buffer.alloc(0);
  const take = (chunk: Buffer) => {
    for (const text of lineTexts({ chunk: chunk as Uint8Array<ArrayBuffer>, receivedAt: now, maxLineBytes: Infinity })) {
      lines++;
      const decoded = decoder.decode(text ?? '', now);
      if (decoded.type === 'event') classes[decoded.event.class] = (classes[decoded.event.class] ?? 0) + 1;
    }
  };
  for await (const read of createReadStream(file) as AsyncIterable<Buffer>) {
    const cut = read.lastIndexOf(10) + 1;
    if (cut === 0) {
      carry = Buffer.concat([carry, read]);
      continue;
    }
    take(carry.length > 0 ? Buffer.concat([carry, read.subarray(0, cut)]) : read.subarray(0, cut));
    carry = read.subarray(cut);
  }
  if (carry.length > 0) take(carry);
  return { lines, classes };
}

if (require.main === module) void count(process.argv[2]).then((result) => console.log(JSON.stringify(result)));
