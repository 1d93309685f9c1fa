import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { freePort } from './ports';

const connect = (url: string) => createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 1000 } });
type Client = ReturnType<typeof connect>;

export function findRedisServer(): string | null {
  const which = spawnSync('sh', ['-c', 'command -v redis-server || command -v valkey-server'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim().split('\n')[0] : null;
}

/**
 * A private redis-server on a free loopback port, in its own directory. By default it keeps
 * nothing on disk (`--save '' --appendonly no`), as edgeban requires; `persist` turns saving on.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'edgeban-redis-'));
  port = 0;

  constructor(
    private readonly binary: string,
    private readonly persist = false,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(port?: number): Promise<this> {
    this.port = port ?? (await freePort());
    const disk = this.persist ? ['--save', '3600 1', '--appendonly', 'yes'] : ['--save', '', '--appendonly', 'no'];
    this.child = spawn(this.binary, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, ...disk], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await this.call((client) => client.ping());
        return this;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Runs `use` on a fresh client connection, closed afterwards. */
  async call<T>(use: (client: Client) => Promise<T>): Promise<T> {
    const client = connect(this.url);
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  }

  /** Every key with every value the server holds, as text (to search for what must not be there). */
  async dump(): Promise<string> {
    return this.call(async (client) => {
      const parts: string[] = [];
      for (const key of await client.keys('*')) {
        const type = await client.type(key);
        const value =
          type === 'zset'
            ? await client.zRangeWithScores(key, 0, -1)
            : type === 'string'
              ? await client.get(key)
              : type === 'hash'
                ? await client.hGetAll(key)
                : type;
        parts.push(`${key} ${JSON.stringify(value)}`);
      }
      return parts.join('\n');
    });
  }

  kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.on('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
