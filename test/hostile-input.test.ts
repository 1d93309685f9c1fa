/**
 * What an attacker (or a broken sender) can send: mangled plugin lines through both decoders, and
 * garbage on every transport of a running `edgeban run`, which must keep serving the lines that
 * follow. Random cases come from fixed seeds, so a failure can be replayed.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { formatIp, parseIp } from '../src/address/ip';
import { buildConfig } from '../src/config/load';
import { viewOf } from '../src/common/bytes';
import { decodeHere } from '../src/decode/decode-thread';
import { Decoder } from '../src/decode/decoder';
import { createPolicy, Pipeline } from '../src/policy/pipeline';
import { parseSyslog } from '../src/syslog/parse';
import * as recogniser from '../src/wordpress/recognise';
import { EVENT_KINDS } from '../src/wordpress/catalogue';
import { AUTH_LOG, FORWARDED_3164, PROTOCOL_5424 } from './fixtures/reference-lines';
import { makePki, TestPki } from './helpers/certs';
import { DaemonProcess } from './helpers/daemon';
import { TestDaemon } from './helpers/in-process';
import { waitFor } from './helpers/wait';
import { octetCounted } from './helpers/wire';

const SAMPLES = [...AUTH_LOG, ...FORWARDED_3164, ...PROTOCOL_5424].map(([line]) => line.replace(/\\n$/, '\n'));
const HOSTILE = [
  ...'<>[]():/ #012\n\r\0\\"-.%{}',
  'é',
  '€',
  '\u{1F600}',
  '\uFFFD',
  '\uD800',
  'from ',
  ' from ',
  'via XML-RPC',
  '::',
  '::ffff:',
  '999999999999',
  '255.255.255.256',
];

/** A sample line with a few cuts, insertions and replacements at random places. */
const mangled = fc
  .tuple(
    fc.constantFrom(...SAMPLES),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...HOSTILE), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 6 }),
  )
  .map(([line, edits]) => {
    let text = line;
    for (const [at, length, piece, how] of edits) {
      const i = at % (text.length + 1);
      if (how === 0) text = text.slice(0, i) + piece + text.slice(i);
      else if (how === 1) text = text.slice(0, i) + text.slice(i + (length % 8) + 1);
      else text = text.slice(0, i) + piece + text.slice(i + piece.length);
    }
    return text;
  });

const KINDS = new Set<string>(EVENT_KINDS);

describe('mangled plugin lines', () => {
  const decoders = [new Decoder('arrival', false), new Decoder('message', true)];

  test('property: both decoders answer every one, and every event they give is well formed', () => {
    const now = Date.UTC(2025, 2, 9, 12);
    fc.assert(
      fc.property(mangled, (line) => {
        for (const decoder of decoders) {
          const decoded = decoder.decode(line, now);
          if (decoded.type === 'rejected') continue;
          const { event } = decoded;
          expect(KINDS.has(event.kind)).toBe(true);
          expect(['hard', 'soft', 'extra', 'info']).toContain(event.class);
          expect(formatIp(parseIp(formatIp(event.ip))!)).toBe(formatIp(event.ip));
          expect(event.site === null || (event.site.length > 0 && event.site === event.site.toLowerCase())).toBe(true);
          expect(Number.isFinite(event.at)).toBe(true);
        }
      }),
      { numRuns: 20_000, seed: 7 },
    );
  });
});

describe('the decoder reads fields in place', () => {
  /** What the decoder must answer: the sliced parse, then recognise, as the API documents them. */
  function sliced(line: string, now: number, allowMissingPri: boolean): unknown {
    const parsed = parseSyslog(line, { now, allowMissingPri });
    if (!parsed.ok) return { type: 'rejected', reason: parsed.reason };
    const recognised = recogniser.recognise(parsed.message, now);
    return recognised.ok ? { type: 'event', event: recognised.event } : { type: 'rejected', reason: recognised.reason };
  }

  const now = Date.UTC(2025, 2, 9, 12);
  const decoders = [false, true].map((allowMissingPri) => ({ allowMissingPri, decoder: new Decoder('arrival', allowMissingPri) }));
  const check = (line: string) => {
    for (const { allowMissingPri, decoder } of decoders) {
      const { repeat: _repeat, ...decoded } = decoder.decode(line, now, false);
      expect([line, decoded]).toEqual([line, sliced(line, now, allowMissingPri)]);
    }
  };

  test('every sample line answers as parseSyslog then recognise do', () => SAMPLES.forEach(check));

  test('property: so does every mangled line', () => {
    fc.assert(fc.property(mangled, check), { numRuns: 20_000, seed: 11 });
  });
});

describe('a line decoded inside a batch', () => {
  // Frames of a batch lie back to back in one buffer, replay's lines in a chunk of a file: the
  // decoder reads a line where it lies, and must read nothing past its end.
  const now = Date.UTC(2025, 2, 9, 12);
  const FOLLOWERS = ['', ':', ')', ']', '>', '-', ' ', '0', '1 2 3', '12:34:56 web1 x: a from 1.2.3.4', '#012', ' via XML-RPC', ':1', '\n<13>next: line'];
  const decoders = [new Decoder('arrival', false), new Decoder('message', true)];

  function check(line: string, follower: string): void {
    const alone = Buffer.from(line);
    const batch = Buffer.concat([Buffer.from(follower), alone, Buffer.from(follower)]);
    const start = Buffer.byteLength(follower);
    for (const decoder of decoders) {
      const expected = decoder.decodeIn(alone, viewOf(alone), 0, alone.length, now, true);
      expect([line, follower, decoder.decodeIn(batch, viewOf(batch), start, start + alone.length, now, true)]).toEqual([line, follower, expected]);
    }
  }

  test('gives what the line alone gives, whatever lies around it (every sample cut at every place)', () => {
    for (const line of SAMPLES) {
      // the most misleading bytes past a cut line are the rest of that line
      for (let cut = 0; cut <= line.length; cut++) check(line.slice(0, cut), line.slice(cut));
      for (const follower of FOLLOWERS) check(line, follower);
    }
  });

  test('property: so does every mangled line, followed by another', () => {
    fc.assert(
      fc.property(mangled, mangled, (line, other) => check(line, other)),
      { numRuns: 10_000, seed: 13 },
    );
  });

  test('a batch of lines built to send searches past their ends costs what its lines cost', () => {
    // Each line lacks what a search looks for (a space, ` from `, `>`, `)`, `[`): a search that ran
    // past its line would read the rest of the batch, and 40,000 lines of 2 MB would take seconds.
    const kinds = [
      '<13>wp: ' + 'x'.repeat(40),
      '<13>' + 'y'.repeat(44),
      '<13' + '9'.repeat(45),
      '<13>wp(' + 'z'.repeat(41),
      'Mar  9 06:25:01 w wp:' + 'u'.repeat(27),
    ];
    const text = Array.from({ length: 40_000 }, (_, i) => kinds[i % kinds.length]).join('\n');
    const chunk = new Uint8Array(Buffer.from(text));
    const decoder = new Decoder('message', true);
    const started = process.hrtime.bigint();
    let lines = 0;
    decodeHere(decoder, { chunk, receivedAt: now, maxLineBytes: 100, mayRepeat: true }, () => lines++);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    expect(lines).toBe(40_000);
    expect(seconds).toBeLessThan(1);
  });
});

describe('a line that makes the decoder throw (a bug there)', () => {
  afterEach(() => jest.restoreAllMocks());

  test('is dropped and counted as decode_failed; the lines after it are decoded', () => {
    const pipeline = new Pipeline(createPolicy(buildConfig({}, {})), new Decoder('arrival'));
    jest.spyOn(recogniser, 'recogniseIn').mockImplementationOnce(() => {
      throw new TypeError('a bug');
    });
    const line = SAMPLES.find((sample) => sample.startsWith('<'))!;
    expect(pipeline.handle(line, Date.now(), false)).toEqual({ type: 'rejected', reason: 'decode_failed' });
    expect(pipeline.handle(line, Date.now(), false)).toMatchObject({ type: 'event' });
    expect(pipeline.stats.rejected.get('decode_failed')).toBe(1);
  });
});

describe('lines that make the decoder throw, through the daemon', () => {
  afterEach(() => jest.restoreAllMocks());

  test('are dropped and counted, and logged once with the stack, not once a line', async () => {
    const daemon = await new TestDaemon({ jails: { hard: { events: ['hard'], maxretry: 1, findtime: '1m', bantime: '1h' } } }).start();
    try {
      const spy = jest.spyOn(recogniser, 'recogniseIn').mockImplementation(() => {
        throw new TypeError('a bug in recognition');
      });
      for (let i = 0; i < 3; i++) daemon.send(`Blocked user enumeration attempt from 192.0.2.${i + 1}`);
      await waitFor(() => daemon.daemon.pipeline.stats.rejected.get('decode_failed') === 3);
      spy.mockRestore();
      daemon.send('Blocked user enumeration attempt from 192.0.2.9');
      await waitFor(() => daemon.daemon.pipeline.stats.events === 1);
      const reports = daemon.logs.filter((line) => String(line.msg).startsWith('lines made the decoder throw'));
      expect(reports).toHaveLength(1);
      expect(reports[0].level).toBe('error');
      expect(String(reports[0].error)).toContain('TypeError: a bug in recognition');
      expect(String(reports[0].error)).toMatch(/\n\s+at /); // the stack, for a bug report
    } finally {
      await daemon.stop();
    }
  });
});

/** Deterministic bytes (a xorshift), so the garbage is the same every run. */
function garbage(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 255;
  }
  return bytes;
}

/** Streams that break framing every way we know, each written in pieces. */
const STREAMS: Buffer[] = [
  garbage(300_000, 1),
  Buffer.from('999999999 '.repeat(1000)), // huge declared lengths
  Buffer.from('12345678901234567890 <37>x\n'.repeat(1000)), // too many digits
  Buffer.from(`${'A'.repeat(50_000)}\n`.repeat(4)), // over maxMessageBytes without a terminator for long
  Buffer.concat([Buffer.from('<37>'), garbage(100_000, 2)]),
  Buffer.from('\0\n\r \0\0\n'.repeat(20_000)),
  Buffer.from('30 <37>cut short'), // a counted frame the sender never finishes
];

function writeAndClose(port: number, stream: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      for (let at = 0; at < stream.length; at += 7919) socket.write(stream.subarray(at, at + 7919));
      socket.end();
    });
    socket.resume(); // read what the daemon answers (a TLS alert), or its close never comes
    socket.on('error', () => resolve()); // the daemon may reset a connection it has given up on
    socket.on('close', () => resolve());
  });
}

function failedHandshake(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: true }); // our test CA is not trusted: the client aborts
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
}

async function sendDatagrams(port: number, count: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  for (let i = 0; i < count; i++) {
    socket.send(garbage(1 + ((i * 131) % 9000), i + 3), port, '127.0.0.1');
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.close();
}

describe('a running daemon fed garbage on every transport', () => {
  let pki: TestPki;
  beforeAll(() => (pki = makePki()));
  afterAll(() => pki.remove());

  test('stays up, and counts the plugin lines sent after it', async () => {
    const daemon = await DaemonProcess.start(
      {
        listen: {
          udp: ['127.0.0.1:0'],
          tcp: ['127.0.0.1:0'],
          tls: [{ address: '127.0.0.1:0', cert: pki.serverCert, key: pki.serverKey }],
          maxMessageBytes: 8192,
        },
      },
      { EDGEBAN_LOG_LEVEL: 'info' },
    );
    const admin = String(daemon.lines.find((line) => line.msg === 'edgeban listening')!.admin);
    const status = async () => (await (await fetch(`${admin}/status`)).json()) as { events: number; lines: number };
    try {
      await Promise.all([
        ...STREAMS.map((stream) => writeAndClose(daemon.port('tcp'), stream)),
        writeAndClose(daemon.port('tls'), garbage(50_000, 9)), // plaintext to the TLS port
        writeAndClose(daemon.port('tls'), Buffer.from(`\x16\x03\x01${'\xff'.repeat(4000)}`, 'latin1')), // a handshake record that lies about its length
        failedHandshake(daemon.port('tls')),
        sendDatagrams(daemon.port('udp'), 3000),
      ]);
      const before = await status();

      const attacks = Array.from(
        { length: 50 },
        (_, i) =>
          `<37>2025-03-09T06:31:00.${String(i).padStart(3, '0')}+00:00 web1 wordpress(www.example.com)[42]: Authentication failure for admin from 198.51.100.${i}`,
      );
      const socket = tls.connect({ port: daemon.port('tls'), host: '127.0.0.1', rejectUnauthorized: false });
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      socket.end(Buffer.concat(attacks.map((line) => octetCounted(line))));
      const udp = dgram.createSocket('udp4');
      for (const line of attacks) udp.send(line.replace('06:31', '06:32'), daemon.port('udp'), '127.0.0.1');
      await writeAndClose(daemon.port('tcp'), Buffer.concat(attacks.map((line) => octetCounted(line.replace('06:31', '06:33')))));

      let after = before;
      for (const deadline = Date.now() + 10_000; after.events < before.events + 150 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = await status();
      }
      udp.close();
      expect(after.events - before.events).toBe(150);
      expect(daemon.lines.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  }, 60_000);
});
