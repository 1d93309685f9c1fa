/**
 * The floor under edgeban's UDP figures: a Node process that only counts the datagrams it is given
 * (Node's dgram, the receive buffer edgeban asks for by default, nothing else), run by
 * bench/ingest.ts with the same sender at the same rate, in the same round as edgeban. Whatever this
 * loses, no program built on Node's dgram keeps on this machine. Prints its port as JSON once
 * bound, then, when its standard input ends, what it received.
 */
import dgram from 'node:dgram';
import { DEFAULT_UDP_RECEIVE_BUFFER } from '../src/config/defaults';

const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: DEFAULT_UDP_RECEIVE_BUFFER });
let received = 0;
socket.on('message', () => received++);
socket.bind(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    process.stdout.write(`${JSON.stringify({ received })}\n`);
    socket.close();
  });
});
