import dgram from 'node:dgram';
import net from 'node:net';

/** A port free on 127.0.0.1 a moment ago, for TCP or UDP (the kernel hands out another next time). */
export async function freePort(type: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (type === 'tcp') {
    const server = net.createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', () => listening()));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((closed) => server.close(closed));
    return port;
  }
  const socket = dgram.createSocket('udp4');
  const port = await new Promise<number>((bound) => socket.bind(0, '127.0.0.1', () => bound(socket.address().port)));
  await new Promise<void>((closed) => socket.close(() => closed()));
  return port;
}
