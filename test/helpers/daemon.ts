import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';

/** the built command line, from test/helpers under ts-jest or dist/test/helpers in a benchmark */
export const CLI = __dirname.includes('/dist/') ? resolve(__dirname, '../../src/cli.js') : resolve(__dirname, '../../dist/src/cli.js');

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** A running `edgeban run` child process with its parsed JSON log. */
export class DaemonProcess {
  readonly lines: LogLine[] = [];
  raw = '';
  stderr = '';
  private exitCode: number | null = null;
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    dir: string,
    /** the YAML config file it runs on (tests rewrite it before SIGHUP) */
    readonly file: string,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.raw += chunk;
      const parts = this.raw.split('\n');
      this.raw = parts.pop()!;
      for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part) as LogLine);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    // its directory goes when it exits, also when it ends by itself (a refused config)
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        rmSync(dir, { recursive: true, force: true });
        resolve((this.exitCode = code));
      }),
    );
  }

  /** Starts edgeban with `config` (an object written as YAML to a temporary file). */
  static async start(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, wrap: string[] = []): Promise<DaemonProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-daemon-'));
    const file = join(dir, 'edgeban.yaml');
    writeFileSync(file, YAML.stringify({ admin: { listen: '127.0.0.1:0' }, ...config }));
    const command = [...wrap, process.execPath, CLI, 'run', '-c', file];
    const child = spawn(command[0], command.slice(1), {
      env: { PATH: process.env.PATH, EDGEBAN_LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon = new DaemonProcess(child, dir, file);
    await daemon.waitForLog((line) => line.msg === 'edgeban listening', 10_000);
    return daemon;
  }

  /** The exit code once the daemon ends by itself (null when it has not within `ms`). */
  async exitWithin(ms: number): Promise<number | null> {
    return Promise.race([this.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))]);
  }

  /** `transport://host:port` strings the daemon reported. */
  listening(): string[] {
    return (this.lines.find((line) => line.msg === 'edgeban listening')?.listening as string[]) ?? [];
  }

  port(transport: string): number {
    const url = this.listening().find((address) => address.startsWith(`${transport}://`));
    if (!url) throw new Error(`no ${transport} listener`);
    return Number(url.slice(url.lastIndexOf(':') + 1));
  }

  async waitForLog(match: (line: LogLine) => boolean, ms = 10_000): Promise<LogLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.exitCode !== null) throw new Error(`edgeban exited (${this.exitCode}): ${this.stderr}${this.raw}`);
      if (Date.now() > deadline) throw new Error(`timed out; log so far:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Signals edgeban itself (under strace the child is strace, so the pid comes from the log). */
  /** Writes a new config (as YAML, or raw text) and sends SIGHUP to edgeban. */
  reload(config: Record<string, unknown> | string): void {
    writeFileSync(this.file, typeof config === 'string' ? config : YAML.stringify({ admin: { listen: '127.0.0.1:0' }, ...config }));
    const pid = Number(this.lines.find((line) => line.msg === 'edgeban listening')?.pid ?? this.child.pid);
    process.kill(pid, 'SIGHUP');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const pid = Number(this.lines.find((line) => line.msg === 'edgeban listening')?.pid ?? this.child.pid);
    if (this.exitCode === null) {
      try {
        process.kill(pid, signal);
      } catch {
        this.child.kill(signal);
      }
    }
    return this.exited;
  }
}
