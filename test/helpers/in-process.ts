import net from 'node:net';
import { Writable } from 'node:stream';
import { buildConfig } from '../../src/config/load';
import { Daemon } from '../../src/daemon';
import { createLogger } from '../../src/observe/log';
import { octetCounted } from './wire';

/** An in-process daemon on a TCP loopback port, with its JSON log captured. */
export class TestDaemon {
  readonly logs: Record<string, unknown>[] = [];
  raw = '';
  readonly daemon: Daemon;
  private socket: net.Socket | null = null;
  /** lines sent so far: their microseconds, so that two identical lines sent in one millisecond never look like a repeat */
  private sent = 0;

  constructor(document: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.raw += chunk.toString();
        for (const line of chunk.toString().split('\n')) if (line.trim()) this.logs.push(JSON.parse(line));
        done();
      },
    });
    // one ban an address, as the jails order it, unless a test asks for networks or shields
    const base = { listen: { tcp: ['127.0.0.1:0'], udp: [] }, admin: { listen: '127.0.0.1:0' }, widen: false, shield: false };
    const config = buildConfig({ ...base, ...document }, env);
    this.daemon = new Daemon({ config, log: createLogger('debug', sink) });
  }

  async start(): Promise<this> {
    await this.daemon.start();
    await this.daemon.startupSweep;
    const port = this.daemon.bound.find((b) => b.transport === 'tcp')!.port;
    this.socket = await new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(socket));
      socket.once('error', reject);
    });
    return this;
  }

  /**
   * Sends one WP fail2ban line as rsyslog's ForwardFormat over octet-counted TCP. rsyslog stamps
   * microseconds; each line here gets its own (up to a thousand lines a millisecond), as the repeat
   * filter takes a line with the same text and time for a resend.
   */
  send(text: string, site = 'www.example.com'): void {
    const micros = String(this.sent++ % 1000).padStart(3, '0');
    const stamp = new Date().toISOString().replace('Z', `${micros}+00:00`);
    this.socket!.write(octetCounted(`<37>${stamp} web1 wordpress(${site})[4242]: ${text}`));
  }

  messages(): string[] {
    return this.logs.map((l) => String(l.msg));
  }

  async stop(graceMs = 1000): Promise<void> {
    this.socket?.destroy();
    await this.daemon.stop(graceMs);
  }
}
