/**
 * A daemon banning at the fake Cloudflare, fed over one TCP connection on loopback: what the
 * benchmarks that count bans and API calls (botnet, shield) run against.
 */
import net from 'node:net';
import { buildConfig } from '../src/config/load';
import { Daemon } from '../src/daemon';
import { FakeCloudflare, FakeOptions } from '../test/fake-cloudflare/server';
import { discardingLogger } from './quiet-log';

export interface EdgeDaemon {
  fake: FakeCloudflare;
  account: string;
  daemon: Daemon;
  socket: net.Socket;
  /** bans at the fake: list items with ip-list, access rules otherwise */
  banned(): number;
  /** API calls since the daemon's start-up sweep */
  calls(): number;
  stop(): Promise<void>;
}

/** `document` is the config beside `listen`, `admin` and `cloudflare`. */
export async function startEdgeDaemon(
  backend: 'access-rules' | 'ip-list',
  document: Record<string, unknown>,
  fakeOptions: FakeOptions = {},
): Promise<EdgeDaemon> {
  const fake = new FakeCloudflare(fakeOptions);
  const account = fake.addAccount();
  const zone = fake.addZone('example.com', account);
  const token = fake.addToken();
  await fake.start();
  const config = buildConfig(
    {
      ...document,
      listen: { tcp: ['127.0.0.1:0'], udp: [] },
      admin: { enabled: false },
      cloudflare: { backend, token, apiBase: fake.baseUrl, zoneId: zone, accountId: account },
    },
    {},
  );
  const daemon = new Daemon({ config, log: discardingLogger('error') });
  await daemon.start();
  await daemon.startupSweep;
  const setupCalls = fake.requests.length;
  const socket = net.connect({ port: daemon.bound[0].port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  return {
    fake,
    account,
    daemon,
    socket,
    banned: () => (backend === 'ip-list' ? fake.lists.itemCount(account) : fake.allRules().length),
    calls: () => fake.requests.length - setupCalls,
    async stop() {
      socket.destroy();
      await daemon.stop(100);
      await fake.stop();
    },
  };
}
