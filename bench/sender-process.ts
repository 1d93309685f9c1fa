/** The sender (bench/sender.ts) as a child process, for the benchmarks that put a load on the daemon. */
import { ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { join, resolve } from 'node:path';

const SENDER = join(resolve(__dirname, '../..'), 'dist/bench/sender.js');

/** What the sender says once done: for UDP, how it sent (bench/sender.ts) and the CPU that took. */
export interface SenderReport {
  sent: number;
  seconds: number;
  perSecond: number;
  cpuSeconds?: number;
  udpSender?: 'c' | 'node';
}

export interface SenderProcess {
  /** resolves once its frames are built and it starts sending */
  ready: Promise<void>;
  /** what it sent, once it exits */
  done: Promise<SenderReport>;
  kill(): void;
}

/** Starts the sender with its arguments: <tcp|tls|udp> <port> <count> [connections] [udp rate per second]. */
export function runSender(args: string[]): SenderProcess {
  return senderProcess(spawn(process.execPath, [SENDER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }), 'sender');
}

/**
 * A sending child (the Node sender, or the C one it runs for datagrams): it prints `ready` once it
 * starts sending, then its report as JSON, and exits 0.
 */
export function senderProcess(child: ChildProcessByStdio<null, Readable, null>, name: string): SenderProcess {
  let out = '';
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolvePromise) => (signalReady = resolvePromise));
  child.stdout.on('data', (chunk) => {
    out += chunk;
    if (out.startsWith('ready\n')) signalReady();
  });
  const done = new Promise<SenderReport>((resolvePromise, reject) => {
    child.on('exit', (code, signal) =>
      code === 0 ? resolvePromise(JSON.parse(out.slice('ready\n'.length))) : reject(new Error(`${name} exited ${code ?? signal}`)),
    );
  });
  return { ready, done, kill: () => child.kill() };
}
