import { Worker } from 'node:worker_threads';
import type { CidrSet } from '../address/cidr';
import type { FrameBatch } from './frame-batch';
import { workerScript } from '../common/worker-script';
import { ReadConfigFile, readConfigFile } from '../config/yaml-file';

export interface UdpWorkerData {
  host: string;
  port: number;
  ipv6: boolean;
  recvBufferSize: number;
  allowedSenders: string[];
  maxMessageBytes: number;
}

export type UdpWorkerCommand =
  | { type: 'listen'; data: UdpWorkerData }
  | { type: 'limits'; allowedSenders: string[]; maxMessageBytes: number }
  | { type: 'stop' }
  /** before it listens: read and parse the config file (config/yaml-file.ts), answered with `ReadConfigFile` */
  | { type: 'read-config'; file: string };

/**
 * A UDP listener thread started before the config is read: a thread (a V8 isolate) takes a while
 * to boot, which then overlaps the config's loading instead of delaying listening. Meanwhile it can
 * read and parse the config file (loading the YAML parser is a visible part of the start), while
 * the main thread loads what validates it. It waits, unreferenced (it keeps no process alive), for
 * the UdpThread that takes it; `discard` ends it if none does.
 */
export class SpareUdpWorker {
  private worker: Worker | null = new Worker(workerScript('ingest', 'udp-worker'));
  /** what the thread threw while no one listened, handed to whoever takes it */
  private failure: Error | null = null;
  private exited = false;

  constructor() {
    this.worker!.unref();
    this.worker!.on('error', (error) => (this.failure ??= error));
    this.worker!.once('exit', () => (this.exited = true));
  }

  /** The config file read and parsed by the thread; read here should the thread be gone. */
  readConfig(file: string): Promise<ReadConfigFile> {
    const worker = this.worker;
    if (!worker || this.exited) return Promise.resolve(readConfigFile(file));
    return new Promise((resolve) => {
      const answered = (read: ReadConfigFile) => {
        worker.off('message', answered);
        worker.off('exit', gone);
        resolve(read);
      };
      const gone = () => answered(readConfigFile(file));
      worker.on('message', answered);
      worker.on('exit', gone);
      const command: UdpWorkerCommand = { type: 'read-config', file };
      worker.postMessage(command);
    });
  }

  /** The booted (or booting) thread, once; null after. */
  take(): { worker: Worker; failure: Error | null } | null {
    const worker = this.worker;
    this.worker = null;
    if (!worker) return null;
    worker.removeAllListeners('error');
    worker.ref();
    return { worker, failure: this.failure };
  }

  discard(): void {
    void this.take()?.worker.terminate();
  }
}

/** What the worker posts: datagrams of one sender, and what it dropped. */
export interface UdpBatch extends FrameBatch {
  sender: string;
  refused: number;
  oversize: number;
}

/** The main thread's handle on a UDP listener thread (see udp-worker.ts). */
export class UdpThread {
  private worker: Worker | null = null;
  private stopping = false;

  constructor(
    private readonly data: UdpWorkerData,
    /** the datagrams of one sender that one turn of the thread's loop read, and what it dropped */
    private readonly deliver: (batch: UdpBatch) => void,
    /** the listener thread died on its own (never expected): the daemon logs it and restarts it */
    private readonly onCrash: (error: Error) => void,
    /** a thread booted ahead, taken at the first start (a restart boots its own) */
    private readonly spare: SpareUdpWorker | null = null,
  ) {}

  /** Starts the thread and binds; resolves with the bound port. */
  start(): Promise<number> {
    const spare = this.spare?.take();
    const worker = spare?.worker ?? new Worker(workerScript('ingest', 'udp-worker'));
    this.worker = worker;
    const listen: UdpWorkerCommand = { type: 'listen', data: this.data };
    worker.postMessage(listen);
    return new Promise((resolvePort, reject) => {
      if (spare?.failure) return reject(spare.failure);
      let bound = false;
      worker.on('message', (message: UdpBatch | { bound: number } | { error: string }) => {
        if ('bytes' in message) return this.deliver(message);
        if ('bound' in message) {
          bound = true;
          this.data.port = message.bound; // a restart binds the same port
          return resolvePort(message.bound);
        }
        worker.terminate().catch(() => undefined);
        reject(new Error(message.error));
      });
      worker.on('error', (error) => (bound ? this.crashed(error) : reject(error)));
      worker.on('exit', (code) => {
        if (bound && !this.stopping) this.crashed(new Error(`UDP listener thread exited with ${code}`));
      });
    });
  }

  updateLimits(allowedSenders: CidrSet, maxMessageBytes: number): void {
    this.data.allowedSenders = allowedSenders.texts;
    this.data.maxMessageBytes = maxMessageBytes;
    const command: UdpWorkerCommand = { type: 'limits', allowedSenders: allowedSenders.texts, maxMessageBytes };
    this.worker?.postMessage(command);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    const command: UdpWorkerCommand = { type: 'stop' };
    worker.postMessage(command);
    const timer = setTimeout(() => void worker.terminate(), 1000);
    await exited;
    clearTimeout(timer);
  }

  private crashed(error: Error): void {
    if (this.stopping) return;
    this.worker = null;
    this.onCrash(error);
    setTimeout(() => {
      if (!this.stopping) this.start().catch((restartError: Error) => this.crashed(restartError));
    }, 1000).unref();
  }
}
