/**
 * `npm run fake-cloudflare`: the fake API on loopback, so a new user can watch edgeban ban without
 * a Cloudflare account. Prints the environment to give `edgeban run`.
 */
import { FakeCloudflare } from './server';

async function main(): Promise<void> {
  const port = Number(process.env.FAKE_CLOUDFLARE_PORT ?? 8787);
  const fake = new FakeCloudflare();
  const account = fake.addAccount();
  const zone = fake.addZone('example.com', account);
  const token = fake.addToken();
  const base = await fake.start(port);
  process.stdout.write(
    [
      `fake Cloudflare API listening on ${base}`,
      'run edgeban against it with:',
      `  CLOUDFLARE_API_BASE=${base} CLOUDFLARE_API_TOKEN=${token} CLOUDFLARE_ZONE_ID=${zone} CLOUDFLARE_ACCOUNT_ID=${account} npm start`,
      `list its rules with: curl -s -H 'Authorization: Bearer ${token}' ${base}/zones/${zone}/firewall/access_rules/rules`,
      '',
    ].join('\n'),
  );
  const stop = () => void fake.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
