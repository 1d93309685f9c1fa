import net from 'node:net';
import { buildConfig } from '../src/config/load';
import { DecodeThread, DecodeThreadOptions } from '../src/decode/decode-thread';
import { FrameBatch, FramePacker } from '../src/ingest/frame-batch';
import { Decoded, Decoder } from '../src/decode/decoder';
import { createPolicy, Pipeline } from '../src/policy/pipeline';
import { TestDaemon } from './helpers/in-process';
import { waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';

const T0 = Date.UTC(2025, 2, 9, 6, 31);
const LINES = [
  '<37>2025-03-09T06:31:00.412733+00:00 web1 wordpress(www.example.com)[4242]: Authentication failure for admin from 203.0.113.7',
  '<37>1 2025-03-09T06:31:00.5+00:00 web1 wordpress - - - Blocked user enumeration attempt on shop.example.org from 2001:db8:1:2::7',
  '<37>Mar  9 06:31:00 web1 wp(example.org)[1]: Pingback error 17 generated from 198.51.100.4',
  '<37>2025-03-09T06:31:00.1+00:00 web1 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2',
  'no syslog at all',
  '<37>2025-03-09T06:31:00.2+00:00 web1 wordpress(a.example)[1]: Authentication failure for x from unknown',
];

function batchOf(lines: string[], at = T0): FrameBatch {
  const packer = new FramePacker();
  lines.forEach((line, i) => packer.add(Buffer.from(line), at + i));
  return packer.take();
}

const threads: DecodeThread[] = [];
afterEach(async () => {
  await Promise.all(threads.splice(0).map((thread) => thread.stop()));
});

async function started(onCrash: (error: Error) => void = () => undefined, options?: DecodeThreadOptions): Promise<DecodeThread> {
  const thread = new DecodeThread(new Decoder('arrival'), onCrash, options);
  threads.push(thread);
  await thread.start();
  return thread;
}

/** Submits a batch; `done` gets its decoded lines once the last is in. */
function submit(thread: DecodeThread, batch: FrameBatch, done: (decoded: Decoded[]) => void): void {
  const lines: Decoded[] = [];
  thread.submit(
    { ...batch, mayRepeat: true },
    (line) => lines.push(line),
    () => done(lines),
  );
}

function submitted(thread: DecodeThread, batch: FrameBatch): Promise<Decoded[]> {
  return new Promise((resolve) => submit(thread, batch, resolve));
}

describe('DecodeThread', () => {
  test('decodes exactly as the main thread would, fingerprints included', async () => {
    const thread = await started();
    const here = new Decoder('arrival');
    const expected = LINES.map((line, i) => here.decode(line, T0 + i, true));
    expect(await submitted(thread, batchOf(LINES))).toEqual(expected);
  });

  test('reusing its objects, each line reads as the main thread would decode it while it is read', async () => {
    const thread = await started(undefined, { reuseEvents: true });
    const here = new Decoder('arrival');
    // IPv4 and IPv6 events, other sites, repeats and rejections in between, over several batches
    const lines = [...LINES, ...LINES.slice(0, 3).reverse(), ...LINES];
    const expected = lines.map((line, i) => here.decode(line, T0 + i, true));
    const seen: Decoded[] = [];
    const firstBatch = batchOf(lines.slice(0, 9));
    const secondBatch = batchOf(lines.slice(9), T0 + 9);
    await new Promise<void>((done) => {
      const copy = (line: Decoded) => seen.push(structuredClone(line));
      thread.submit({ ...firstBatch, mayRepeat: true }, copy);
      thread.submit({ ...secondBatch, mayRepeat: true }, copy, done);
    });
    expect(seen).toEqual(expected);
  });

  test('answers in the order asked', async () => {
    const thread = await started();
    const order: number[] = [];
    for (let n = 0; n < 50; n++) submit(thread, batchOf(LINES.slice(0, 1 + (n % 5))), () => order.push(n));
    await waitFor(() => order.length === 50);
    expect(order).toEqual([...Array(50).keys()]);
    expect(thread.backlog).toBe(0);
  });

  test('a thread that dies: what it had not answered is decoded here, in order, and nothing is lost', async () => {
    const crashes: Error[] = [];
    const answers: Decoded[][] = [];
    let answeredByThread = -1;
    const thread = await started((error) => {
      crashes.push(error);
      answeredByThread = answers.length;
    });
    const N = 500;
    // the thread is gone but its exit not yet seen: everything asked meanwhile is unanswered
    void (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    for (let n = 0; n < N; n++) submit(thread, batchOf(LINES, T0 + n * 10), (decoded) => answers.push(decoded));
    expect(thread.backlog).toBe(N * LINES.length);
    await waitFor(() => answers.length === N);
    expect(crashes).toHaveLength(1);
    expect(answeredByThread).toBeLessThan(N); // the rest (in practice all) were decoded here
    const here = new Decoder('arrival');
    answers.forEach((decoded, n) => expect(decoded).toEqual(LINES.map((line, i) => here.decode(line, T0 + n * 10 + i, true))));
    submit(thread, batchOf(LINES), (decoded) => answers.push(decoded)); // from now on, here
    expect(answers).toHaveLength(N + 1);
  });
});

describe('one repeat filter for lines decoded here and in the thread', () => {
  test('a frame decoded here and its resend decoded in the thread count once', async () => {
    const thread = await started();
    const pipeline = new Pipeline(createPolicy(buildConfig({}, {})), new Decoder('arrival'));
    expect(pipeline.handle(LINES[0], T0)).toMatchObject({ type: 'event' });
    const [resent] = await submitted(thread, batchOf([LINES[0]], T0 + 2000));
    expect(pipeline.account(resent)).toEqual({ type: 'rejected', reason: 'repeat' });
    expect(pipeline.stats.rejected.get('repeat')).toBe(1);
  });
});

describe('a flood over one connection, through the daemon', () => {
  test('goes through the decode thread: every frame counted once, a resend after a reconnect dropped as repeats', async () => {
    const d = new TestDaemon({ jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } } });
    await d.start();
    const decoding = (d.daemon as unknown as { router: { thread: DecodeThread } }).router.thread;
    let submitted = 0;
    const submit = decoding.submit.bind(decoding);
    decoding.submit = (request, each, done) => {
      if ('times' in request) submitted += request.times.length;
      submit(request, each, done);
    };
    const N = 3000;
    const flood = Buffer.concat(
      Array.from({ length: N }, (_, i) =>
        octetCounted(
          `<37>2025-03-09T06:31:00.${String(i).padStart(6, '0')}+00:00 web1 wordpress(www.example.com)[1]: Blocked user enumeration attempt from 198.51.${i >> 8}.${i & 255}`,
        ),
      ),
    );
    const port = d.daemon.bound.find((b) => b.transport === 'tcp')!.port;
    for (let round = 0; round < 2; round++) {
      const socket = net.connect({ port, host: '127.0.0.1' });
      await new Promise((connected) => socket.once('connect', connected));
      socket.end(flood);
      await waitFor(() => d.daemon.pipeline.stats.lines === N * (round + 1), 10_000);
    }
    const { stats } = d.daemon.pipeline;
    expect(submitted).toBeGreaterThan(N); // most of it went through the thread
    expect(d.daemon.decodedIn.get('thread')).toBe(submitted);
    expect(d.daemon.decodedIn.get('thread') + d.daemon.decodedIn.get('main')).toBe(2 * N);
    expect(stats.events).toBe(N);
    expect(stats.rejected.get('repeat')).toBe(N);
    expect(stats.bans).toBe(N);
    await d.stop();
  });
});
