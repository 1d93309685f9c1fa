import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { CidrSet } from '../src/address/cidr';
import type { Frames } from '../src/ingest/frame-batch';
import { isIpv6Host, parseHostPort } from '../src/address/host-port';
import { Ingest, IngestHandlers, IngestOptions, IngestOutcome, normalizeSender } from '../src/ingest/listeners';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfigFile } from '../src/config/yaml-file';
import { SpareUdpWorker } from '../src/ingest/udp-thread';
import { chosenUdpReader, datagramSender, loadNativeUdp, META_STRIDE, UdpReader } from '../src/ingest/native-udp';
import { formatIp } from '../src/address/ip';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { makePki, TestPki } from './helpers/certs';
import { freePort } from './helpers/ports';
import { sleep, waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';

/** Calls `each` with every frame of a batch, in order. */
function forEachFrame(batch: Frames, each: (frame: Buffer) => void): void {
  const { bytes, bounds, times } = batch;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < times.length; i++) each(buffer.subarray(bounds[i * 2], bounds[i * 2 + 1]));
}

const LINE = '<37>2025-03-09T06:31:00.412733+00:00 web1 wordpress(www.example.com)[23456 Authentication failure for admin from 203.0.113.7';

interface Harness {
  ingest: Ingest;
  frames: { text: string; sender: string; transport: string }[];
  outcomes: Map<string, number>;
  port(transport: 'udp' | 'tcp' | 'tls'): number;
}

const running: Ingest[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((ingest) => ingest.stop()));
});

async function startIngest(options: Partial<IngestOptions>, extra: Partial<IngestHandlers> = {}, spare: SpareUdpWorker | null = null): Promise<Harness> {
  const frames: Harness['frames'] = [];
  const outcomes = new Map<string, number>();
  const ingest = new Ingest(
    {
      udp: [],
      tcp: [],
      tls: [],
      allowedSenders: new CidrSet(['127.0.0.0/8', '::1/128']),
      maxMessageBytes: 8192,
      maxConnections: 16,
      idleTimeoutMs: 10_000,
      udpReceiveBufferBytes: 1 << 20,
      ...options,
    },
    {
      frames: (batch, sender, transport) => forEachFrame(batch, (bytes) => frames.push({ text: bytes.toString('utf8'), sender, transport })),
      datagrams: (batch, sender) => forEachFrame(batch, (bytes) => frames.push({ text: bytes.toString('utf8'), sender, transport: 'udp' })),
      outcome: (transport, outcome: IngestOutcome, count = 1) =>
        outcomes.set(`${transport}:${outcome}`, (outcomes.get(`${transport}:${outcome}`) ?? 0) + count),
      ...extra,
    },
    spare,
  );
  await ingest.start();
  running.push(ingest);
  return { ingest, frames, outcomes, port: (t) => ingest.bound.find((b) => b.transport === t)!.port };
}

/** What `write` sends while streams are paused stays unread, and arrives (`count` frames) once they resume. */
async function expectHeldWhilePaused(h: Harness, count: number, write: () => unknown): Promise<void> {
  const before = h.frames.length;
  h.ingest.pauseStreams();
  await write();
  await sleep(200);
  expect(h.frames).toHaveLength(before);
  h.ingest.resumeStreams();
  await waitFor(() => h.frames.length === before + count);
}

function sendUdp(port: number, message: string | Buffer, host = '127.0.0.1'): Promise<void> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => socket.send(message, port, host, (error) => (socket.close(), error ? reject(error) : resolve())));
}

function connectTcp(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A UDP listener whose handler counts the batches it is handed (their frames go to h.frames). */
async function startCountingBatchesWith(udpReader: UdpReader): Promise<{ h: Harness; batches: () => number }> {
  let batches = 0;
  const h = await startIngest(
    { udp: ['127.0.0.1:0'], udpReader },
    { datagrams: (batch) => (batches++, void forEachFrame(batch, () => h.frames.push({ text: '', sender: '', transport: '' }))) },
  );
  return { h, batches: () => batches };
}

const start = startIngest;

describe('helpers', () => {
  test('host:port parsing', () => {
    expect(parseHostPort('127.0.0.1:5514')).toEqual({ host: '127.0.0.1', port: 5514 });
    expect(parseHostPort('[::1]:6514')).toEqual({ host: '::1', port: 6514 });
    expect(() => parseHostPort('::1:5514')).toThrow();
    expect(() => parseHostPort('127.0.0.1:70000')).toThrow();
  });
  test('a listen host is IPv6 exactly when Node says so', () => {
    for (const address of ['127.0.0.1:5514', '0.0.0.0:1', '[::1]:6514', '[::]:1', '[::ffff:127.0.0.1]:1', 'localhost:5514', '[fe80::1]:2']) {
      const { host } = parseHostPort(address);
      expect([address, isIpv6Host(host)]).toEqual([address, net.isIPv6(host)]);
    }
  });
  test('mapped senders are normalised', () => {
    expect(normalizeSender('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeSender('::1')).toBe('::1');
  });
});

const READERS: { name: string; reader: UdpReader }[] = [
  { name: 'the batch reader', reader: 'batch' },
  { name: "Node's dgram reader", reader: 'node' },
];

describe.each(READERS)('UDP, read by $name', ({ reader }) => {
  const start = (options: Partial<IngestOptions>, extra: Partial<IngestHandlers> = {}) => startIngest({ udpReader: reader, ...options }, extra);
  const startCountingBatches = () => startCountingBatchesWith(reader);

  test('uses the reader asked for', async () => {
    const h = await start({ udp: ['127.0.0.1:0'] });
    expect(h.ingest.bound[0].reader).toBe(reader);
  });

  test('IPv4 and IPv6 datagrams arrive as frames', async () => {
    const h = await start({ udp: ['127.0.0.1:0', '[::1]:0'] });
    const [v4, v6] = h.ingest.bound;
    await sendUdp(v4.port, LINE);
    await sendUdp(v6.port, `${LINE}\n`, '::1');
    await waitFor(() => h.frames.length === 2);
    expect(h.frames.map((f) => f.sender).sort()).toEqual(['127.0.0.1', '::1']);
    // two listeners, two threads: either may deliver first
    expect(h.frames.find((f) => f.sender === '127.0.0.1')?.text).toBe(LINE);
    expect(h.frames.find((f) => f.sender === '::1')?.text).toBe(`${LINE}\n`);
  });

  test('an oversized datagram is counted and dropped', async () => {
    const h = await start({ udp: ['127.0.0.1:0'], maxMessageBytes: 1024 });
    await sendUdp(h.port('udp'), 'x'.repeat(2000));
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.frames.length === 1);
    expect(h.outcomes.get('udp:oversize')).toBe(1);
  });

  test('a sender outside allowedSenders is dropped before parsing, and counted', async () => {
    const h = await start({ udp: ['127.0.0.1:0'], allowedSenders: new CidrSet(['127.0.0.2/32']) });
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.outcomes.get('udp:sender_refused') === 1);
    expect(h.frames).toEqual([]);
  });

  test('new limits reach the UDP listener thread (SIGHUP): a refused sender is let in, a smaller size applies', async () => {
    const h = await start({ udp: ['127.0.0.1:0'], allowedSenders: new CidrSet(['127.0.0.2/32']) });
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.outcomes.get('udp:sender_refused') === 1);
    h.ingest.updateLimits({ allowedSenders: new CidrSet(['127.0.0.0/8']), maxMessageBytes: 64, maxConnections: 16, idleTimeoutMs: 10_000 });
    // the new limits reach the thread by message: send until one gets through
    for (let tries = 0; tries < 100 && h.frames.length === 0; tries++) {
      await sendUdp(h.port('udp'), 'short');
      await sleep(20);
    }
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.outcomes.get('udp:oversize') === 1);
    expect(h.frames.every((frame) => frame.text === 'short')).toBe(true);
  });

  test('a UDP listener thread that dies is reported and restarted on the same port', async () => {
    const crashes: Error[] = [];
    const h = await start({ udp: ['127.0.0.1:0'] }, { listenerCrashed: (error) => crashes.push(error) });
    const thread = (h.ingest as unknown as { udpThreads: { worker: { terminate(): Promise<number> } }[] }).udpThreads[0];
    await thread.worker.terminate();
    await waitFor(() => crashes.length === 1);
    for (let tries = 0; tries < 100 && h.frames.length === 0; tries++) {
      await sendUdp(h.port('udp'), LINE);
      await sleep(50);
    }
    expect(h.frames[0]?.text).toBe(LINE);
  });

  test('a burst of datagrams arrives whole and in order, each with its arrival time', async () => {
    const h = await start({ udp: ['127.0.0.1:0'] });
    const socket = dgram.createSocket('udp4');
    for (let i = 0; i < 500; i++) socket.send(`${LINE} ${i}`, h.port('udp'), '127.0.0.1');
    await waitFor(() => h.frames.length === 500);
    socket.close();
    expect(h.frames.map((frame) => frame.text)).toEqual(Array.from({ length: 500 }, (_, i) => `${LINE} ${i}`));
    expect(h.outcomes.get('udp:accepted')).toBe(500);
  });

  test('while datagrams keep coming, they cross in batches at most once a millisecond, not once a turn of the loop', async () => {
    const { h, batches } = await startCountingBatches();
    const socket = dgram.createSocket('udp4');
    const started = performance.now();
    for (let i = 0; i < 1000; i++) socket.send(`${LINE} ${i}`, h.port('udp'), '127.0.0.1');
    await waitFor(() => h.frames.length === 1000);
    const elapsedMs = performance.now() - started;
    socket.close();
    // libuv reads 32 datagrams a turn: a batch a turn would be 32 or more
    expect(batches()).toBeLessThanOrEqual(Math.floor(elapsedMs) + 1);
  });

  test('a main thread that stalls while a flood comes costs counted datagrams (overrun), never unbounded memory, and reading goes on', async () => {
    const h = await start({ udp: ['127.0.0.1:0'], udpRingBytes: 64 * 1024 });
    const count = 1500;
    // a sender of its own, as this thread stalls: five datagrams a millisecond for 300 ms
    const sender = spawn(process.execPath, [
      '-e',
      `const s = require('node:dgram').createSocket('udp4'); let i = 0;
       const tick = () => { for (let k = 0; k < 5 && i < ${count}; k++, i++) s.send(${JSON.stringify(LINE)} + ' ' + i, ${h.port('udp')}, '127.0.0.1');
         if (i < ${count}) setTimeout(tick, 1); else setTimeout(() => s.close(), 50); };
       tick();`,
    ]);
    const exited = new Promise((done) => sender.on('exit', done));
    const stalledUntil = Date.now() + 1500;
    while (Date.now() < stalledUntil); // the main thread busy: nothing reads the ring
    await exited;
    const accepted = () => h.outcomes.get('udp:accepted') ?? 0;
    const overrun = () => h.outcomes.get('udp:overrun') ?? 0;
    await waitFor(() => accepted() + overrun() === count, 5000, `every datagram accepted or counted (${accepted()} + ${overrun()})`);
    expect(overrun()).toBeGreaterThan(0);
    expect(accepted()).toBeLessThan(500); // what 64 KiB holds
    // what was read is whole and in order, and the next datagram comes through
    expect(h.frames.map((frame) => frame.text)).toEqual(Array.from({ length: accepted() }, (_, i) => `${LINE} ${i}`));
    await sendUdp(h.port('udp'), `${LINE} after`);
    await waitFor(() => h.frames.at(-1)?.text === `${LINE} after`);
  });

  test('datagrams sent apart cross apart: none is held back waiting for more', async () => {
    const { h, batches } = await startCountingBatches();
    for (let i = 1; i <= 10; i++) {
      await sendUdp(h.port('udp'), LINE);
      await waitFor(() => h.frames.length === i);
      await sleep(20);
    }
    expect(batches()).toBe(10);
  });

  test('an IPv4 sender on a dual-stack listener ([::]) is seen as IPv4, and checked as such', async () => {
    const h = await start({ udp: ['[::]:0'], allowedSenders: new CidrSet(['127.0.0.1/32']) });
    await sendUdp(h.port('udp'), LINE);
    await sendUdp(h.port('udp'), LINE, '::1');
    await waitFor(() => h.frames.length === 1 && h.outcomes.get('udp:sender_refused') === 1);
    expect(h.frames[0].sender).toBe('127.0.0.1');
  });

  test('senders interleaved within one burst are each checked: none is taken for the one before', async () => {
    const h = await start({ udp: ['127.0.0.1:0'], allowedSenders: new CidrSet(['127.0.0.1/32']) });
    const allowed = dgram.createSocket('udp4');
    const refused = dgram.createSocket('udp4');
    await Promise.all([
      new Promise((bound) => allowed.bind(0, '127.0.0.1', () => bound(null))),
      new Promise((bound) => refused.bind(0, '127.0.0.2', () => bound(null))),
    ]);
    try {
      for (let i = 0; i < 200; i++) (i % 3 === 0 ? refused : allowed).send(`${LINE} ${i}`, h.port('udp'), '127.0.0.1');
      const refusedCount = Math.ceil(200 / 3);
      await waitFor(() => h.frames.length === 200 - refusedCount && h.outcomes.get('udp:sender_refused') === refusedCount);
    } finally {
      allowed.close();
      refused.close();
    }
    expect(h.frames.every((frame, n) => frame.sender === '127.0.0.1' && Number(frame.text.split(' ').at(-1)) % 3 !== 0 && n < 200)).toBe(true);
  });

  test('the largest datagram there is arrives whole when allowed, is counted as oversize when not; an empty one is an empty frame', async () => {
    const largest = 65_507; // IPv4's limit
    const h = await start({ udp: ['127.0.0.1:0'], maxMessageBytes: 1_048_576 });
    await sendUdp(h.port('udp'), Buffer.alloc(largest, 'x'));
    await sendUdp(h.port('udp'), Buffer.alloc(0));
    await waitFor(() => h.frames.length === 2);
    expect(h.frames.map((frame) => frame.text.length)).toEqual([largest, 0]);
    const small = await start({ udp: ['127.0.0.1:0'], maxMessageBytes: 480 });
    await sendUdp(small.port('udp'), Buffer.alloc(largest, 'x'));
    await sendUdp(small.port('udp'), Buffer.alloc(481, 'x'));
    await sendUdp(small.port('udp'), Buffer.alloc(480, 'x'));
    await waitFor(() => small.frames.length === 1 && small.outcomes.get('udp:oversize') === 2);
  });

  test("a failed bind says why in Node's words, as Node's dgram says it", async () => {
    const taken = dgram.createSocket('udp4');
    const port = await new Promise<number>((bound) => taken.bind(0, '127.0.0.1', () => bound(taken.address().port)));
    try {
      await expect(start({ udp: [`127.0.0.1:${port}`] })).rejects.toThrow(`bind EADDRINUSE 127.0.0.1:${port}`);
    } finally {
      taken.close();
    }
  });

  test('a listen host given by name (localhost) is resolved, as dgram resolves it', async () => {
    const h = await start({ udp: ['localhost:0'] });
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.frames.length === 1);
  });

  test('stops at once: the thread does not linger in its read', async () => {
    const h = await start({ udp: ['127.0.0.1:0'] });
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.frames.length === 1);
    const started = performance.now();
    await h.ingest.stop();
    // the main thread terminates a thread that has not ended within a second
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('TCP', () => {
  test('octet-counted and LF frames, split across writes and packed within one', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'] });
    const socket = await connectTcp(h.port('tcp'));
    const stream = Buffer.concat([octetCounted(LINE), Buffer.from(`${LINE}\n`), octetCounted(`${LINE}\n`)]);
    for (let i = 0; i < stream.length; i += 37) {
      socket.write(stream.subarray(i, i + 37));
      await sleep(1);
    }
    socket.write(Buffer.concat([octetCounted(LINE), octetCounted(LINE)]));
    await waitFor(() => h.frames.length === 5);
    expect(h.frames.map((f) => f.text.trimEnd())).toEqual(Array(5).fill(LINE));
    expect(h.outcomes.get('tcp:accepted')).toBe(5); // counted once a read, but every frame
    socket.destroy();
  });

  test('pauseStreams stops reading (the sender waits), resumeStreams reads on; connections made meanwhile wait too', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'] });
    const first = await connectTcp(h.port('tcp'));
    first.write(octetCounted(LINE));
    await waitFor(() => h.frames.length === 1);
    let second: net.Socket | undefined;
    await expectHeldWhilePaused(h, 2, async () => {
      first.write(octetCounted(LINE));
      second = await connectTcp(h.port('tcp'));
      second.write(octetCounted(LINE));
    });
    first.destroy();
    second?.destroy();
  });

  test('IPv6 listener', async () => {
    const h = await start({ tcp: ['[::1]:0'] });
    const socket = await connectTcp(h.port('tcp'), '::1');
    socket.write(octetCounted(LINE));
    await waitFor(() => h.frames.length === 1);
    expect(h.frames[0].sender).toBe('::1');
    socket.destroy();
  });

  test('an oversized LF frame is dropped and the connection goes on', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'], maxMessageBytes: 1024 });
    const socket = await connectTcp(h.port('tcp'));
    socket.write(Buffer.concat([Buffer.from(`${'z'.repeat(5000)}\n`), octetCounted(LINE)]));
    await waitFor(() => h.frames.length === 1);
    expect(h.outcomes.get('tcp:oversize')).toBe(1);
    socket.destroy();
  });

  test('an octet count over maxMessageBytes closes the connection, counted', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'], maxMessageBytes: 1024 });
    const socket = await connectTcp(h.port('tcp'));
    socket.write(Buffer.concat([octetCounted('y'.repeat(50_000)), octetCounted(LINE)]));
    await new Promise((resolve) => socket.on('close', resolve));
    expect(h.outcomes.get('tcp:length_over_limit')).toBe(1);
    expect(h.frames).toEqual([]);
  });

  test('a sender outside allowedSenders is refused at connect', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'], allowedSenders: new CidrSet(['127.0.0.2/32']) });
    const socket = await connectTcp(h.port('tcp'));
    socket.write(octetCounted(LINE));
    await new Promise((resolve) => socket.on('close', resolve));
    expect(h.outcomes.get('tcp:connection_refused')).toBe(1);
    expect(h.frames).toEqual([]);
  });

  test('a connection flood past maxConnections is refused while admitted peers keep being served', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'], maxConnections: 5 });
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connectTcp(h.port('tcp'))));
    for (const socket of sockets) socket.on('error', () => undefined);
    await waitFor(() => (h.outcomes.get('tcp:connection_limit') ?? 0) === 15);
    expect(h.ingest.connectionCount).toBe(5);
    for (const socket of sockets) if (!socket.destroyed) socket.write(octetCounted(LINE));
    await waitFor(() => h.frames.length === 5);
    for (const socket of sockets) socket.destroy();
  });

  test('an idle connection is closed after the idle timeout', async () => {
    const h = await start({ tcp: ['127.0.0.1:0'], idleTimeoutMs: 200 });
    const socket = await connectTcp(h.port('tcp'));
    await new Promise((resolve) => socket.on('close', resolve));
    expect(h.outcomes.get('tcp:idle_timeout')).toBe(1);
  });
});

describe('TLS', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki.remove());

  function connectTls(port: number, cert?: string, key?: string): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect(
        { port, host: '127.0.0.1', ca: pki.read(pki.ca), cert: cert && pki.read(cert), key: key && pki.read(key), servername: 'localhost' },
        () => resolve(socket),
      );
      socket.once('error', reject);
    });
  }

  const endpoint = (mutual: boolean) => ({
    address: '127.0.0.1:0',
    cert: pki.read(pki.serverCert),
    key: pki.read(pki.serverKey),
    ca: mutual ? pki.read(pki.ca) : undefined,
  });

  test('pauseStreams also holds a TLS stream', async () => {
    const h = await start({ tls: [endpoint(false)] });
    const socket = await connectTls(h.port('tls'));
    await expectHeldWhilePaused(h, 1, () => socket.write(octetCounted(LINE)));
    socket.destroy();
  });

  test('server-only TLS: frames arrive', async () => {
    const h = await start({ tls: [endpoint(false)] });
    const socket = await connectTls(h.port('tls'));
    socket.write(Buffer.concat([octetCounted(LINE), octetCounted(LINE)]));
    await waitFor(() => h.frames.length === 2);
    expect(h.frames[0].transport).toBe('tls');
    socket.destroy();
  });

  test('mutual TLS: a client with a certificate signed by the CA is served', async () => {
    const h = await start({ tls: [endpoint(true)] });
    const socket = await connectTls(h.port('tls'), pki.clientCert, pki.clientKey);
    socket.write(octetCounted(LINE));
    await waitFor(() => h.frames.length === 1);
    socket.destroy();
  });

  test.each([
    ['no certificate', undefined, undefined],
    ['a certificate the CA did not sign', 'rogue', 'rogue'],
  ])('mutual TLS: a client with %s is refused', async (_label, cert, key) => {
    const h = await start({ tls: [endpoint(true)] });
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({
        port: h.port('tls'),
        host: '127.0.0.1',
        ca: pki.read(pki.ca),
        servername: 'localhost',
        cert: cert && pki.read(pki.rogueCert),
        key: key && pki.read(pki.rogueKey),
      });
      socket.on('secureConnect', () => socket.write(octetCounted(LINE)));
      socket.on('error', () => resolve('refused'));
      socket.on('close', () => resolve('refused'));
    });
    expect(outcome).toBe('refused');
    await waitFor(() => (h.outcomes.get('tls:tls_refused') ?? 0) === 1);
    await sleep(50);
    expect(h.frames).toEqual([]);
  });
});

describe('listeners starting together', () => {
  test("are listed in the config's order, UDP first", async () => {
    const h = await start({ tcp: ['127.0.0.1:0'], udp: ['127.0.0.1:0', '127.0.0.1:0'] });
    expect(h.ingest.bound.map((bound) => bound.transport)).toEqual(['udp', 'udp', 'tcp']);
  });

  test('one that cannot bind stops the others, those that bound after it too', async () => {
    const taken = net.createServer();
    await new Promise<void>((listening) => taken.listen(0, '127.0.0.1', () => listening()));
    const [udpPort, tcpPort] = [await freePort('udp'), await freePort('tcp')];
    try {
      const takenPort = (taken.address() as net.AddressInfo).port;
      await expect(start({ udp: [`127.0.0.1:${udpPort}`], tcp: [`127.0.0.1:${takenPort}`, `127.0.0.1:${tcpPort}`] })).rejects.toThrow(/EADDRINUSE/);
      // both free again: a listener left behind would hold its port
      const udp = dgram.createSocket('udp4');
      await new Promise<void>((bound, failed) => (udp.once('error', failed), udp.bind(udpPort, '127.0.0.1', () => bound())));
      udp.close();
      const tcp = net.createServer();
      await new Promise<void>((listening, failed) => (tcp.once('error', failed), tcp.listen(tcpPort, '127.0.0.1', () => listening())));
      await new Promise((closed) => tcp.close(closed));
    } finally {
      await new Promise((closed) => taken.close(closed));
    }
  });
});

describe('a UDP listener thread booted before the config is read', () => {
  /** The spare's thread, to watch it (it is private: only a UdpThread may take it). */
  const threadOf = (spare: SpareUdpWorker) => (spare as unknown as { worker: import('node:worker_threads').Worker }).worker;

  test('is the one that listens, and only once', async () => {
    const spare = new SpareUdpWorker();
    const thread = threadOf(spare);
    const h = await start({ udp: ['127.0.0.1:0'] }, {}, spare);
    expect(spare.take()).toBeNull();
    await sendUdp(h.port('udp'), LINE);
    await waitFor(() => h.frames.length === 1);
    const exited = new Promise((resolve) => thread.once('exit', resolve));
    await h.ingest.stop();
    await exited; // the spare's own thread was the listener
  });

  test('reads and parses the config file, as the main thread would, then listens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-spare-'));
    try {
      const good = join(dir, 'good.yaml');
      const bad = join(dir, 'bad.yaml');
      writeFileSync(good, 'listen:\n  udp: ["127.0.0.1:0"]\n');
      writeFileSync(bad, 'listen: [\n');
      for (const file of [bad, join(dir, 'missing.yaml')]) {
        const spare = new SpareUdpWorker(file);
        expect(await spare.config).toEqual(readConfigFile(file));
        spare.discard();
      }
      const spare = new SpareUdpWorker(good);
      expect(await spare.config).toEqual({ document: { listen: { udp: ['127.0.0.1:0'] } } });
      const h = await start({ udp: ['127.0.0.1:0'] }, {}, spare);
      await sendUdp(h.port('udp'), LINE);
      await waitFor(() => h.frames.length === 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a file read by a thread that died is read here instead', async () => {
    const file = join(tmpdir(), 'edgeban-no-such-config.yaml');
    const spare = new SpareUdpWorker(file);
    await threadOf(spare).terminate();
    expect(await spare.config).toEqual({ problem: expect.stringContaining('cannot read') });
    spare.discard();
  });

  test('ends when no UDP address takes it, leaving no thread behind', async () => {
    const spare = new SpareUdpWorker();
    const exited = new Promise((resolve) => threadOf(spare).once('exit', resolve));
    await start({ tcp: ['127.0.0.1:0'] }, {}, spare);
    await exited;
  });

  test('ends when listening fails', async () => {
    const taken = await start({ tcp: ['127.0.0.1:0'] });
    const spare = new SpareUdpWorker();
    const exited = new Promise((resolve) => threadOf(spare).once('exit', resolve));
    await expect(start({ tcp: [`127.0.0.1:${taken.port('tcp')}`] }, {}, spare)).rejects.toThrow(/EADDRINUSE/);
    await exited;
  });
});

describe('the batch reader', () => {
  test('is built on Linux (npm install builds it), and the operator can turn it off', () => {
    if (process.platform === 'linux') expect(loadNativeUdp(chosenUdpReader({}))).not.toBeNull();
    expect(chosenUdpReader({ EDGEBAN_UDP_READER: 'node' })).toBe('node');
    expect(loadNativeUdp('node')).toBeNull();
  });
});

test("the batch reader's sender words make the address the sender has (an IPv4-mapped one as IPv4)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (bytes, mapped) => {
      if (mapped) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
      const meta = new Int32Array(META_STRIDE);
      const words = new DataView(bytes.buffer);
      meta[2] = 6; // as recvmmsg fills it: network order, read as big-endian words
      for (let i = 0; i < 4; i++) meta[3 + i] = words.getInt32(i * 4, false);
      const address = ipaddr.fromByteArray([...bytes]) as ipaddr.IPv6;
      const expected = address.isIPv4MappedAddress() ? address.toIPv4Address().toString() : address.toRFC5952String();
      expect(formatIp(datagramSender(meta, 0)!)).toBe(expected);
    }),
  );
});
