import { FakeCloudflare, FakeOptions } from '../fake-cloudflare/server';
import type { TestDaemon } from './in-process';

export interface FakeAccount {
  fake: FakeCloudflare;
  account: string;
  zone: string;
  token: string;
}

/** A started fake Cloudflare with one account, one zone (example.com) and one all-powerful token. */
export async function startFakeCloudflare(options: FakeOptions = {}): Promise<FakeAccount> {
  const fake = new FakeCloudflare(options);
  const account = fake.addAccount();
  const zone = fake.addZone('example.com', account);
  const token = fake.addToken();
  await fake.start();
  return { fake, account, zone, token };
}

/**
 * For a suite: a fresh fake before each test, handed to `use`; after each test the daemons pushed
 * into the returned array are stopped, then the fake `current` names (a test may have swapped it).
 */
export function fakeCloudflareEachTest(use: (started: FakeAccount) => void, current: () => FakeCloudflare): TestDaemon[] {
  const daemons: TestDaemon[] = [];
  beforeEach(async () => use(await startFakeCloudflare()));
  afterEach(async () => {
    await Promise.all(daemons.splice(0).map((daemon) => daemon.stop()));
    await current().stop();
  });
  return daemons;
}
