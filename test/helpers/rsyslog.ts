import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** the repository's rsyslog/, from test/helpers under ts-jest or dist/test/helpers in a benchmark */
export const RSYSLOG_RULES = [resolve(__dirname, '../../rsyslog'), resolve(__dirname, '../../../rsyslog')].find((dir) => existsSync(dir))!;

export function findRsyslogd(): string | null {
  for (const path of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd']) if (existsSync(path)) return path;
  const which = spawnSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

/**
 * The project's forwarding rule with its placeholder target and port replaced, for a private
 * rsyslogd that reads `logger` lines from its own socket.
 */
export function ruleFor(file: string, port: number, replacements: Record<string, string> = {}): string {
  let rule = readFileSync(join(RSYSLOG_RULES, file), 'utf8')
    .replace('target="edgeban.example.net"', 'target="127.0.0.1"')
    .replace(/port="\d+"/, `port="${port}"`);
  for (const [from, to] of Object.entries(replacements)) rule = rule.split(from).join(to);
  return rule;
}

/** A private `rsyslogd -n` with its own socket, work directory and pid file; nothing system-wide. */
export class PrivateRsyslog {
  readonly socket: string;
  private child: ChildProcess | null = null;
  stderr = '';

  constructor(
    private readonly rsyslogd: string,
    private readonly rule: string,
    readonly dir = mkdtempSync(join(tmpdir(), 'edgeban-rsyslog-')),
  ) {
    this.socket = join(dir, 'log.sock');
  }

  config(): string {
    return [
      `global(workDirectory="${this.dir}")`,
      'module(load="imuxsock" SysSock.Use="off")',
      `input(type="imuxsock" Socket="${this.socket}" CreatePath="on" RateLimit.Interval="0")`,
      this.rule,
      '',
    ].join('\n');
  }

  /** `rsyslogd -N1` on this config: null when valid, else rsyslog's complaint. */
  validate(): string | null {
    const file = join(this.dir, 'check.conf');
    writeFileSync(file, this.config());
    const run = spawnSync(this.rsyslogd, ['-N1', '-f', file], { encoding: 'utf8' });
    return run.status === 0 && !/error/i.test(run.stderr) ? null : run.stderr + run.stdout;
  }

  async start(): Promise<void> {
    const file = join(this.dir, 'rsyslog.conf');
    writeFileSync(file, this.config());
    this.child = spawn(this.rsyslogd, ['-n', '-f', file, '-i', join(this.dir, 'rsyslog.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.socket)) {
      if (Date.now() > deadline) throw new Error(`rsyslogd did not start: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends one line the way PHP's syslog() does, through `logger`. */
  log(tag: string, text: string, priority = 'auth.notice', pid = 4242): void {
    execFileSync('logger', ['-u', this.socket, '--socket-errors=on', '-p', priority, '-t', tag, `--id=${pid}`, '--', text]);
  }

  /** Sends many lines through one `logger`, which reads them from its standard input. */
  logMany(tag: string, lines: string[], priority = 'auth.notice', pid = 4242): void {
    execFileSync('logger', ['-u', this.socket, '--socket-errors=on', '-p', priority, '-t', tag, `--id=${pid}`], {
      input: `${lines.join('\n')}\n`,
      maxBuffer: 64 << 20,
    });
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child!.on('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
