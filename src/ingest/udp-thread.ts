import { Worker } from 'node:worker_threads';
import type { CidrSet } from '../address/cidr';
import { createRingMemory, RingDrops, RingFrames, RingMemory, RingReader } from './frame-ring';
import { workerScript } from '../common/worker-script';
import { ReadConfigFile, readConfigFile } from '../config/yaml-file';
import type { UdpReader } from './native-udp';

export interface UdpWorkerData {
  host: string;
  port: number;
  ipv6: boolean;
  recvBufferSize: number;
  allowedSenders: string[];
  maxMessageBytes: number;
  /** the reader asked for; the thread answers with the one it uses */
  reader: UdpReader;
  /** where the thread writes what it receives (frame-ring.ts) */
  ring: RingMemory;
}

export type UdpWorkerCommand =
  { type: 'listen'; data: UdpWorkerData } | { type: 'limits'; allowedSenders: string[]; maxMessageBytes: number } | { type: 'stop' };

/** What a thread booted before the config is read is given: the config file to read first, if any. */
export interface UdpWorkerStart {
  configFile?: string;
}

/**
 * A UDP listener thread started before the config is read: a thread (a V8 isolate) takes a while
 * to boot, which then overlaps the config's loading instead of delaying listening. It reads and
 * parses the config file first (loading the YAML parser is a visible part of the start), while the
 * main thread loads what validates it. It waits, unreferenced (it keeps no process alive), for
 * the UdpThread that takes it; `discard` ends it if none does.
 */
export class SpareUdpWorker {
  private worker: Worker | null;
  /** what the thread threw while no one listened, handed to whoever takes it */
  private failure: Error | null = null;
  /** the config file as the thread read it; read here should the thread be gone first */
  readonly config: Promise<ReadConfigFile> | null;

  /** `configFile`: the file the thread reads first (none: the embedded default is used). */
  constructor(configFile?: string) {
    const start: UdpWorkerStart = { configFile: configFile || undefined };
    const worker = (this.worker = new Worker(workerScript('ingest', 'udp-worker'), { workerData: start }));
    worker.unref();
    worker.on('error', (error) => (this.failure ??= error));
    this.config = configFile ? firstAnswer(worker, () => readConfigFile(configFile)) : null;
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

/** The thread's first message, or what `instead` gives should the thread end before it sends one. */
function firstAnswer<T>(worker: Worker, instead: () => T): Promise<T> {
  return new Promise((resolve) => {
    const answered = (answer: T) => {
      worker.off('message', answered);
      worker.off('exit', gone);
      resolve(answer);
    };
    const gone = () => answered(instead());
    worker.on('message', answered);
    worker.on('exit', gone);
  });
}

/** Room between the listener thread and the main thread: at 150,000 datagrams a second, a third of a second of them. */
const UDP_RING_BYTES = 8 << 20;
/** While datagrams flow, the main thread reads the ring this often (ms), */
const READ_EVERY_MS = 1;
/** and after this many reads that found nothing, sleeps until the thread wakes it. */
const EMPTY_READS_BEFORE_SLEEP = 20;

/** The main thread's handle on a UDP listener thread (see udp-worker.ts and udp-listener.ts). */
export class UdpThread {
  private worker: Worker | null = null;
  private stopping = false;
  private readonly ring: RingReader;
  /** the next read, while the ring is read on the main thread's clock: after a while, or after the loop's other work */
  private nextRead: NodeJS.Timeout | null = null;
  private nextReadSoon: NodeJS.Immediate | null = null;
  private emptyReads = 0;
  private readonly readNow = () => this.readRing();

  constructor(
    private readonly data: Omit<UdpWorkerData, 'ring'>,
    /** the datagrams of one sender, as they lie in the ring: valid only during the call */
    private readonly deliver: (frames: RingFrames) => void,
    /** what the thread dropped since the last call */
    private readonly dropped: (drops: RingDrops) => void,
    /** the listener thread died on its own (never expected): the daemon logs it and restarts it */
    private readonly onCrash: (error: Error) => void,
    /** a thread booted ahead, taken at the first start (a restart boots its own) */
    private readonly spare: SpareUdpWorker | null = null,
    ringBytes = UDP_RING_BYTES,
  ) {
    this.ring = new RingReader(createRingMemory(ringBytes));
  }

  /** Starts the thread and binds; resolves with the bound port and the reader in use. */
  start(): Promise<{ port: number; reader: UdpReader }> {
    const spare = this.spare?.take();
    const worker = spare?.worker ?? new Worker(workerScript('ingest', 'udp-worker'));
    this.worker = worker;
    const listen: UdpWorkerCommand = { type: 'listen', data: { ...this.data, ring: this.ring.memory } };
    worker.postMessage(listen);
    return new Promise((resolvePort, reject) => {
      if (spare?.failure) return reject(spare.failure);
      let bound = false;
      worker.on('message', (message: { wake: true } | { bound: number; reader: UdpReader } | { error: string }) => {
        if ('wake' in message) return this.wake();
        if ('bound' in message) {
          bound = true;
          this.data.port = message.bound; // a restart binds the same port
          return resolvePort({ port: message.bound, reader: message.reader });
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
    this.worker = null;
    if (!worker) return this.cancelRead();
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    const command: UdpWorkerCommand = { type: 'stop' };
    worker.postMessage(command);
    const timer = setTimeout(() => void worker.terminate(), 1000);
    await exited;
    clearTimeout(timer);
    this.cancelRead();
    while (this.ring.read(this.deliver) > 0); // what came before the socket closed
    this.reportDrops();
  }

  /** The thread wrote to a sleeping reader. */
  private wake(): void {
    if (this.nextRead === null && this.nextReadSoon === null && !this.stopping) this.readRing();
  }

  /**
   * Reads what waits, then reads again in READ_EVERY_MS, or at once (after the event loop's other
   * work) when the read stopped at its most, or, after EMPTY_READS_BEFORE_SLEEP empty reads, not
   * until the thread wakes it.
   */
  private readRing(): void {
    this.nextRead = null;
    this.nextReadSoon = null;
    const read = this.ring.read(this.deliver);
    this.reportDrops();
    if (read > 0) this.emptyReads = 0;
    else if (++this.emptyReads >= EMPTY_READS_BEFORE_SLEEP) {
      this.emptyReads = 0;
      if (this.ring.sleep()) return;
    }
    if (read === this.ring.maxFrames) this.nextReadSoon = setImmediate(this.readNow);
    else this.nextRead = setTimeout(this.readNow, READ_EVERY_MS);
  }

  private cancelRead(): void {
    if (this.nextRead) clearTimeout(this.nextRead);
    if (this.nextReadSoon) clearImmediate(this.nextReadSoon);
    this.nextRead = null;
    this.nextReadSoon = null;
  }

  private reportDrops(): void {
    const drops = this.ring.takeDrops();
    if (drops.refused > 0 || drops.oversize > 0 || drops.full > 0) this.dropped(drops);
  }

  private crashed(error: Error): void {
    if (this.stopping) return;
    this.worker = null;
    this.wake(); // what it wrote before it died
    this.onCrash(error);
    setTimeout(() => {
      if (!this.stopping) this.start().catch((restartError: Error) => this.crashed(restartError));
    }, 1000).unref();
  }
}
