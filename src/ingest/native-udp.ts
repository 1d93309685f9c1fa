/**
 * The batch reader for UDP sockets (native/udp-batch.c), where it was built: Linux, at `npm
 * install`. Without it, or when the operator asks for Node's reader (EDGEBAN_UDP_READER=node), the
 * listener thread reads through Node's dgram, one datagram a callback.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Ip, ipv4, ipv6 } from '../address/ip';

/** int32s a datagram in `meta`: length, truncated, family (4/6), four address words, port */
export const META_STRIDE = 8;

export interface NativeUdp {
  /** A bound socket whose reads wait at most `waitMs`: [fd, bound port]. */
  open(host: string, port: number, ipv6: boolean, receiveBufferBytes: number, waitMs: number): [number, number];
  /** Waits for one datagram (or `waitMs`), then takes what else waits, into `slotBytes`-byte slots; how many. */
  receive(fd: number, slots: Uint8Array, slotBytes: number, meta: Int32Array): number;
  close(fd: number): void;
}

/** The system call and the negative errno a failed native call throws with. */
export interface NativeError extends Error {
  syscall: string;
  errno: number;
}

const ADDON = join('build', 'Release', 'udp_batch.node');

/** How a UDP listener reads: in batches where the addon was built, or through Node's dgram. */
export type UdpReader = 'batch' | 'node';

/** The reader the operator asked for: EDGEBAN_UDP_READER=node turns the batch reader off. */
export function chosenUdpReader(env: NodeJS.ProcessEnv): UdpReader {
  return env.EDGEBAN_UDP_READER === 'node' ? 'node' : 'batch';
}

/** The addon, or null: Node's reader asked for, not built, or another system. */
export function loadNativeUdp(reader: UdpReader): NativeUdp | null {
  if (reader === 'node') return null;
  // dist/src/ingest when compiled, src/ingest under the tests
  for (const root of [join(__dirname, '..', '..', '..'), join(__dirname, '..', '..')]) {
    const file = join(root, ADDON);
    if (!existsSync(file)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an addon loads only by require
      const addon = require(file) as NativeUdp & { META_STRIDE: number };
      return addon.META_STRIDE === META_STRIDE ? addon : null; // a build left from another layout
    } catch {
      return null; // built for another Node: the dgram reader still works
    }
  }
  return null;
}

/** The sender of the datagram at `row`; an IPv4 sender on a dual-stack socket (::ffff:a.b.c.d) as IPv4. */
export function datagramSender(meta: Int32Array, row: number): Ip | null {
  const family = meta[row + 2];
  const words = [meta[row + 3] >>> 0, meta[row + 4] >>> 0, meta[row + 5] >>> 0, meta[row + 6] >>> 0];
  if (family === 4) return ipv4(words[0]);
  if (family !== 6) return null;
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return ipv4(words[3]);
  return ipv6(words.flatMap((word) => [word >>> 16, word & 0xffff]));
}
