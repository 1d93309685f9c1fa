// fs.promises is read where FileReads opens a file: Node loads it on first use, and replay --count never uses it
import { promises as fsPromises, readSync } from 'node:fs';

/** A read of replay's input: a mebibyte (with a stream's default 64 KiB, reading 120 MB took 180 ms of stream overhead against 65 ms). */
export const READ_BYTES = 1 << 20;

/** Reads of replay's input, as they come: a stream's, or a file's (FileReads), or a file's read in place (synchronously). */
export type ReplayInput = AsyncIterable<Buffer> | Iterable<Buffer>;

/** Buffers of recycled reads kept: those in flight between the threads (REPLAY_BACKLOG), and a few more. */
const MAX_SPARE_READS = 16;

/**
 * A file's reads, each into a buffer of its own, to be handed to the decode thread, which hands it
 * back (`recycle`) once its lines are decoded: the next reads go into buffers in use rather than
 * fresh memory, whose first touch costs far more than the read itself on a virtual machine (the
 * hypervisor maps each new page). Read asynchronously, off this thread.
 */
export class FileReads implements AsyncIterable<Buffer> {
  private readonly spares: ArrayBuffer[] = [];

  constructor(private readonly path: string) {}

  /** Takes a buffer back to read into; one of another size (a copied piece) is left to the collector. */
  recycle(buffer: ArrayBuffer): void {
    if (buffer.byteLength === READ_BYTES && this.spares.length < MAX_SPARE_READS) this.spares.push(buffer);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const file = await fsPromises.open(this.path, 'r');
    try {
      for (;;) {
        const spare = this.spares.pop();
        const buffer = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(READ_BYTES);
        const { bytesRead } = await file.read(buffer, 0, READ_BYTES, null);
        if (bytesRead === 0) return;
        yield bytesRead === READ_BYTES ? buffer : buffer.subarray(0, bytesRead);
      }
    } finally {
      await file.close();
    }
  }
}

/**
 * Replay's input: a file (FileReads, whose reads are handed to the decode thread), or standard
 * input for `-`, as a stream. `replay --count` reads in place instead, see readsInPlace.
 */
export function openReplayInput(source: string): ReplayInput {
  return source === '-' ? process.stdin : new FileReads(source);
}

/**
 * Reads of an open file into `buffer`, each overwriting the last, for a reader done with a read
 * before it asks for the next (the first touch of fresh memory for every read cost more than
 * finding the lines in it): from where the file stands to its end (a pipe too), or of the bytes
 * [from, to) of a regular file.
 */
export function* readsInPlace(fd: number, buffer: Buffer, range?: { from: number; to: number }): Generator<Buffer> {
  const end = range?.to ?? Infinity;
  for (let at = range?.from ?? 0; at < end;) {
    const bytesRead = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), range ? at : null);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
    at += bytesRead;
  }
}

/**
 * The input in chunks of whole lines, as read. A line split by reads is carried over, its pieces
 * joined once its end comes (a line of many reads costs one copy, not one a read). A line that
 * grows past `maxLineBytes` is dropped as it comes, up to its end, and reported to `oversize`:
 * memory stays bounded whatever the input. Each chunk is the only view of its buffer (a read
 * that shares one is copied, a carried tail is copied out), so it may be handed to another thread;
 * with `inPlace` (reads that overwrite one buffer) a chunk is good only until the next is asked for.
 */
export async function* wholeLines(input: ReplayInput, maxLineBytes: number, oversize: () => void, inPlace = false): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let carry: Buffer[] = [];
  let carried = 0;
  let skipping = false;
  for await (const read of input) {
    // read in place, a chunk is the caller's only until its next read; it is never kept here
    const chunk = inPlace ? read : ownBuffer(read);
    const cut = chunk.lastIndexOf(10) + 1;
    let head = 0;
    if (skipping && cut > 0) {
      head = chunk.indexOf(10) + 1;
      skipping = false;
      oversize();
    }
    if (cut === 0) {
      if (!skipping) {
        carry.push(inPlace ? Buffer.from(chunk) : chunk);
        carried += chunk.length;
      }
    } else {
      // the tail is copied out before the lines go: whoever takes them may take their buffer
      const tail = cut < chunk.length ? [Buffer.from(chunk.subarray(cut))] : [];
      if (head < cut) yield* completed(carry, chunk, head, cut);
      carry = tail;
      carried = tail.length === 0 ? 0 : tail[0].length;
    }
    if (!skipping && carried > maxLineBytes + 1) {
      carry = []; // + 1: a CR before the LF is not the line's
      skipping = true;
    }
  }
  if (skipping) oversize();
  else if (carry.length > 0) yield new Uint8Array(Buffer.concat(carry));
}

/** A read as a Buffer alone in its memory: a file's reads are (one buffer a read), a pipe's may not be. */
function ownBuffer(read: Buffer): Buffer {
  return read.byteOffset === 0 && read.byteLength === read.buffer.byteLength ? read : Buffer.from(new Uint8Array(read).buffer);
}

/**
 * The whole lines of `chunk[head, cut)`: the carried-over line joined with its end (a copy of one
 * line), then the rest as it was read (joining them all copied every read twice over).
 */
function* completed(carry: Buffer[], chunk: Buffer, head: number, cut: number): Generator<Uint8Array<ArrayBuffer>> {
  if (carry.length === 0) return yield chunk.subarray(head, cut) as Uint8Array<ArrayBuffer>;
  const lineEnd = chunk.indexOf(10, head) + 1;
  yield new Uint8Array(Buffer.concat([...carry, chunk.subarray(head, lineEnd)]));
  if (lineEnd < cut) yield chunk.subarray(lineEnd, cut) as Uint8Array<ArrayBuffer>;
}

/** The sizes the first chunk is cut to: small first, so the first lines come back soon. */
const RAMP_BYTES = [16 << 10, 64 << 10, 256 << 10];

/**
 * The chunks of wholeLines, the first cut into pieces of growing size at line ends. A thread
 * decodes a chunk whole before it answers, the first one with cold code: a mebibyte kept the
 * policy waiting for it, while a first piece of a few hundred lines comes back in a few
 * milliseconds. The pieces are copies, so the rest of the chunk is still the only view of its buffer.
 */
export async function* rampUp(chunks: AsyncIterable<Uint8Array<ArrayBuffer>>, sizes = RAMP_BYTES): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let first = true;
  for await (const chunk of chunks) {
    if (!first) {
      yield chunk;
      continue;
    }
    first = false;
    let head = 0;
    for (const bytes of sizes) {
      const end = chunk.indexOf(10, head + bytes) + 1;
      if (end <= 0 || end >= chunk.length) break;
      yield new Uint8Array(chunk.subarray(head, end)); // a copy (a Buffer's slice would be a view)
      head = end;
    }
    yield chunk.subarray(head);
  }
}
