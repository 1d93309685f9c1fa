/** The decode thread (see decode-thread.ts): batches of frames in, decoded lines out, in order. */
import { parentPort, workerData } from 'node:worker_threads';
import { FramePacker } from '../ingest/frame-batch';
import { AnswerPool, answerBuffers } from './answer-pool';
import { DecodeRequest, decodeBatch, DecodeWorkerData } from './decode-thread';
import { Decoder } from './decoder';
import { SiteNumbers } from './event-codec';

/**
 * A fresh thread runs its code cold, and its first frames decode many times slower than later
 * ones. Decoding a few thousand sample lines first (with a throw-away decoder, so replay's clock
 * starts from nothing) costs a little at start-up and keeps a ban's latency low from the first
 * attack on.
 */
function warmUp(): void {
  const samples = [
    '<37>2025-03-09T06:31:00.412733+00:00 web1 wordpress(www.example.com)[4242]: Authentication failure for admin from 203.0.113.7',
    '<37>1 2025-03-09T06:31:00.412733+00:00 web1 wordpress - - - Blocked user enumeration attempt from 2001:db8::7',
    '<37>Mar  9 06:31:00 web1 wp(example.org)[1]: Pingback error 17 generated from 198.51.100.4',
  ].map((line) => Buffer.from(line));
  const decoder = new Decoder('arrival');
  for (let round = 0; round < 20; round++) {
    const packer = new FramePacker(64 * 1024, 300);
    for (let i = 0; i < 300; i++) packer.add(samples[i % samples.length], Date.now() + i);
    decodeBatch(decoder, { ...packer.take(), mayRepeat: true }, new SiteNumbers());
  }
}

/** Answers the main thread's requests in order, with this thread's own decoder and sites table. */
function serve(): void {
  const port = parentPort!;
  const { warm, ...settings } = workerData as DecodeWorkerData;
  if (warm) warmUp();
  port.postMessage('ready');
  const decoder = new Decoder(settings.clock, settings.allowMissingPri);
  const sites = new SiteNumbers();
  const pool = new AnswerPool();
  port.on('message', (request: DecodeRequest) => {
    if (request.spares) pool.give(request.spares);
    const answer = decodeBatch(decoder, request, sites, pool);
    const transfer = answerBuffers([answer]);
    // the chunk's buffer goes back to be read into again: the lines in it are decoded
    if ('chunk' in request) transfer.push((answer.input = request.chunk.buffer));
    port.postMessage(answer, transfer);
  });
}

serve();
