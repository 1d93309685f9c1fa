import { DecodeRouter } from '../src/decode/router';
import { Decoder } from '../src/decode/decoder';
import { FramePacker } from '../src/ingest/frame-batch';

function flood(count: number) {
  const packer = new FramePacker();
  for (let i = 0; i < count; i++)
    packer.add(Buffer.from(`<37>Mar  9 06:31:00 web1 wordpress(a.example)[1]: Authentication failure for x from 203.0.113.${i % 250}`), 0);
  return packer.take();
}

describe('DecodeRouter', () => {
  test('counts a flood where it was decoded: here before the thread starts, there once it runs', async () => {
    const decoded: string[] = [];
    const router = new DecodeRouter(new Decoder('arrival'), {
      decoded: (line) => decoded.push(line.type),
      pause: () => undefined,
      resume: () => undefined,
      crashed: () => undefined,
      failed: () => undefined,
    });
    router.route(flood(100)); // more than a read decoded here by choice
    expect(decoded).toHaveLength(100);
    expect(router.decodedIn.get('main')).toBe(100);
    expect(router.decodedIn.get('thread')).toBe(0);
    await router.start();
    try {
      router.route(flood(100));
      expect(router.decodedIn.get('thread')).toBe(100);
      await new Promise<void>((done) => {
        const poll = () => (decoded.length === 200 ? done() : setTimeout(poll, 5));
        poll();
      });
      expect(decoded.every((type) => type === 'event')).toBe(true);
    } finally {
      await router.stop();
    }
  });
});
