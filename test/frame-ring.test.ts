import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { createRingMemory, RingFrames, RingReader, RingWriter } from '../src/ingest/frame-ring';

interface Read {
  sender: string;
  text: string;
  at: number;
}

function readAll(reader: RingReader, into: Read[]): number {
  return reader.read((frames: RingFrames) => {
    for (let i = 0; i < frames.times.length; i++) {
      const text = Buffer.from(frames.bytes.subarray(frames.bounds[i * 2], frames.bounds[i * 2 + 1])).toString('latin1');
      into.push({ sender: frames.sender, text, at: frames.times[i] });
    }
  });
}

const SENDERS = ['127.0.0.1', '::1', '192.0.2.10'];

describe('the ring between the UDP thread and the main thread', () => {
  test('every frame written is read once, whole, in order, from its sender; what found no room is counted, never torn', () => {
    // small rings and short frames, so that a record often ends exactly where the reader is
    const step = fc.oneof(fc.record({ write: fc.string({ maxLength: 40 }), sender: fc.constantFrom(...SENDERS) }), fc.record({ read: fc.constant(true) }));
    fc.assert(
      fc.property(fc.integer({ min: 48, max: 400 }), fc.integer({ min: 1, max: 16 }), fc.array(step, { maxLength: 300 }), (size, maxFrames, steps) => {
        const memory = createRingMemory(size);
        const writer = new RingWriter(memory);
        const reader = new RingReader(memory, maxFrames);
        const written: Read[] = [];
        const read: Read[] = [];
        let full = 0;
        steps.forEach((s, i) => {
          if ('read' in s) return readAll(reader, read);
          const frame = Buffer.from(s.write, 'latin1');
          if (writer.write(s.sender, frame, i)) written.push({ sender: s.sender, text: s.write, at: i });
          else full++;
        });
        while (readAll(reader, read) > 0);
        expect(read).toEqual(written);
        expect(reader.takeDrops()).toEqual({ refused: 0, oversize: 0, full });
        expect(reader.pending).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  test('a frame is written from part of a datagram, and a read stops at its most', () => {
    const memory = createRingMemory(1 << 16);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory, 2);
    const datagram = Buffer.from('first\nsecond\nthird');
    writer.write('127.0.0.1', datagram, 1, 0, 5);
    writer.write('127.0.0.1', datagram, 2, 6, 12);
    writer.write('127.0.0.1', datagram, 3, 13, 18);
    const read: Read[] = [];
    expect(readAll(reader, read)).toBe(2);
    expect(readAll(reader, read)).toBe(1);
    expect(read.map((r) => r.text)).toEqual(['first', 'second', 'third']);
  });

  test('a sleeping reader is woken once; frames that came while it fell asleep are not left waiting', () => {
    const memory = createRingMemory(1 << 16);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    // it starts asleep: the first frame wakes it
    writer.write('127.0.0.1', Buffer.from('a'), 1);
    expect(writer.takeWakeRequest()).toBe(true);
    expect(writer.takeWakeRequest()).toBe(false);
    expect(readAll(reader, [])).toBe(1);
    // nothing waits: asleep, and the next frame wakes it
    expect(reader.sleep()).toBe(true);
    writer.write('127.0.0.1', Buffer.from('b'), 2);
    expect(writer.takeWakeRequest()).toBe(true);
    expect(readAll(reader, [])).toBe(1);
    // a frame already waits as it goes to sleep: it stays awake to read it, and no wake is due
    writer.write('127.0.0.1', Buffer.from('c'), 3);
    expect(reader.sleep()).toBe(false);
    expect(writer.takeWakeRequest()).toBe(false);
  });

  test('refused and oversize datagrams are counted for the reader, and taken once', () => {
    const memory = createRingMemory(1 << 16);
    const writer = new RingWriter(memory);
    const reader = new RingReader(memory);
    writer.refusedSender();
    writer.refusedSender();
    writer.oversize();
    expect(reader.takeDrops()).toEqual({ refused: 2, oversize: 1, full: 0 });
    expect(reader.takeDrops()).toEqual({ refused: 0, oversize: 0, full: 0 });
  });

  test('a writer in another thread and a reader here agree on every frame while the ring wraps many times', async () => {
    const count = 200_000;
    const memory = createRingMemory(64 * 1024);
    const source = `
      const { workerData } = require('node:worker_threads');
      const { RingWriter } = require(${JSON.stringify(require.resolve('../dist/src/ingest/frame-ring'))});
      const writer = new RingWriter(workerData.memory);
      for (let i = 0; i < ${count}; ) {
        const sender = i % 1000 < 500 ? '127.0.0.1' : '::1';
        if (writer.write(sender, Buffer.from('frame ' + i + ' ' + 'x'.repeat(i % 97)), i)) i++;
      }`;
    const worker = new Worker(source, { eval: true, workerData: { memory } });
    const reader = new RingReader(memory, 512);
    const read: Read[] = [];
    const deadline = Date.now() + 30_000;
    while (read.length < count && Date.now() < deadline) {
      if (readAll(reader, read) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await worker.terminate();
    expect(read).toHaveLength(count);
    read.forEach((r, i) => {
      if (r.at !== i || r.text !== `frame ${i} ${'x'.repeat(i % 97)}` || r.sender !== (i % 1000 < 500 ? '127.0.0.1' : '::1'))
        throw new Error(`frame ${i} read as ${JSON.stringify(r)}`);
    });
  });
});
