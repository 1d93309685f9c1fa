import { Writable } from 'node:stream';
import type { BanOrder } from '../src/policy/policy';
import { BanJsonWriter, ByteOutput } from '../src/replay/output';

/** A stream that keeps what it is given, and says "wait" after every write when `slow`. */
function collector(slow = false) {
  const chunks: Buffer[] = [];
  let writes = 0;
  const stream = new Writable({
    highWaterMark: slow ? 1 : 16_384,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk)); // a copy: a buffer reused after write would show here
      writes++;
      setImmediate(done);
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), writes: () => writes };
}

const order = (over: Partial<BanOrder> = {}): BanOrder => ({
  key: '192.0.2.1/32',
  bits: 32,
  jail: 'wordpress-hard',
  action: 'block',
  duration: 3600,
  until: 1_741_505_112,
  site: 'www.example.com',
  ...over,
});

async function ended(out: ByteOutput, stream: Writable): Promise<void> {
  await out.flush();
  await new Promise<void>((done) => stream.end(done));
}

describe('ByteOutput', () => {
  test('a ban line is the text JSON.stringify gives, sites with quotes, non-ASCII and none included', async () => {
    const orders = [
      order(),
      order({ site: 'bücher.example/blog "2"\\x', jail: 'jail\twith\u2028odd', until: 0 }),
      order({ site: null, key: '2001:db8:1:2::/64', action: 'managed_challenge', until: 9_007_199_254_740_991 }),
      order({ site: '例え.テスト 😀' }),
    ];
    const { stream, text } = collector();
    const out = new ByteOutput(stream);
    const bans = new BanJsonWriter();
    for (const each of orders) await bans.write(out, each);
    await ended(out, stream);
    const expected = orders.map(({ key, jail, action, until, site }) => `${JSON.stringify({ type: 'ban', key, jail, action, until, site })}\n`);
    expect(text()).toBe(expected.join(''));
  });

  test('lines across many buffers, a piece larger than one, a slow reader waited for or not: every byte once, in order', async () => {
    const { stream, text, writes } = collector(true);
    const out = new ByteOutput(stream);
    const expected: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const line = i === 2500 ? `${'é'.repeat(40_000)}-${'x'.repeat(70_000)}` : `line ${i} ${'ü'.repeat(i % 50)}`;
      out.text(line);
      out.integer(i * 997);
      expected.push(`${line}${i * 997}\n`);
      const wait = out.lineEnd();
      if (wait && i % 1000 === 0) await wait; // else the stream queues: a buffer written to again would show
    }
    await ended(out, stream);
    expect(writes()).toBeGreaterThan(5);
    expect(text()).toBe(expected.join(''));
  });

  test('integers: zero, digits at every length, and what is not a non-negative integer as its text', async () => {
    const values = [0, 7, 10, 99, 100, 1_741_505_112, 2 ** 53 - 1, -5, 1.5, Number.NaN, 2 ** 60];
    const { stream, text } = collector();
    const out = new ByteOutput(stream);
    for (const value of values) {
      out.integer(value);
      out.lineEnd();
    }
    await ended(out, stream);
    expect(text()).toBe(values.map((value) => `${String(value)}\n`).join(''));
  });
});
