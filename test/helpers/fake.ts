import { FakeCloudflare, FakeOptions } from '../fake-cloudflare/server';

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
