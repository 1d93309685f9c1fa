/**
 * Two receivers sharing one Cloudflare zone or account (a standby that took over, or two active
 * ones): each adopts what the other made, an extension made by one is not undone by the other's
 * older expiry, and a rule the other already deleted is fine.
 */
import type { Backend } from '../src/bans/backend';
import { Ledger, LedgerOutcome } from '../src/bans/ledger';
import { AccessRulesBackend } from '../src/cloudflare/access-rules';
import { CloudflareClient } from '../src/cloudflare/client';
import { IpListBackend } from '../src/cloudflare/ip-list';
import { parseNotes } from '../src/cloudflare/notes';
import type { FakeCloudflare } from './fake-cloudflare/server';
import { DaemonProcess, LogLine } from './helpers/daemon';
import { startFakeCloudflare } from './helpers/fake';
import { findRsyslogd, PrivateRsyslog, ruleFor } from './helpers/rsyslog';
import { sleep, waitFor } from './helpers/wait';

let fake: FakeCloudflare, account: string, zone: string, token: string;
beforeEach(async () => ({ fake, account, zone, token } = await startFakeCloudflare()));
afterEach(() => fake.stop());

type Kind = 'access-rules' | 'ip-list';

function receiver(kind: Kind) {
  const client = new CloudflareClient({ baseUrl: fake.baseUrl, token, requestsPer5Min: 1200, maxAttempts: 2, backoffBaseMs: 10 });
  const backend: Backend =
    kind === 'access-rules'
      ? new AccessRulesBackend(client, { scope: 'zone', zoneId: zone, zones: {} })
      : new IpListBackend(client, { accountId: account, zoneIds: [zone], actions: ['block'], itemLimit: 10_000, pollMs: [5, 20] });
  const outcomes: [LedgerOutcome, string | undefined][] = [];
  const ledger = new Ledger({ backend, events: { outcome: (what, _ban, detail) => outcomes.push([what, detail]) }, retryDelayMs: 100 });
  return { ledger, outcomes, saw: (what: LedgerOutcome) => outcomes.filter(([each]) => each === what).length };
}

/** The expiries Cloudflare holds for edgeban's bans, in either backend's form. */
function untilsAtCloudflare(kind: Kind): number[] {
  const notes =
    kind === 'access-rules'
      ? fake.allRules().map((rule) => rule.notes)
      : fake.lists.listsOf(account).flatMap((list) => [...list.items.values()].map((item) => item.comment));
  return notes.map((text) => parseNotes(text)!.until);
}

const order = (until: number) => ({ key: '203.0.113.9/32', bits: 32, jail: 'soft', action: 'block' as const, duration: 2, until, site: 'www.example.com' });

describe.each<Kind>(['access-rules', 'ip-list'])('two receivers on one Cloudflare (%s)', (kind) => {
  test("B extends a ban A made; A's older expiry leaves it standing; at the new expiry it is lifted once", async () => {
    const [a, b] = [receiver(kind), receiver(kind)];
    const now = Math.floor(Date.now() / 1000);
    a.ledger.ban(order(now + 2));
    await waitFor(() => a.saw('banned') === 1, 5000, 'A banned');
    expect((await b.ledger.reconcile()).adopted).toBe(1);
    b.ledger.ban(order(now + 4));
    await waitFor(() => b.saw('extended') + b.saw('banned') === 1, 5000, 'B extended');
    expect(untilsAtCloudflare(kind)).toEqual([now + 4]);

    // A's timer fires at now + 2: it reads the rule, finds the later expiry, and keeps the ban
    await waitFor(() => a.saw('adopted') === 1, 5000, 'A kept the extended ban');
    expect(a.outcomes).toContainEqual(['adopted', 'extended by another receiver']);
    expect(untilsAtCloudflare(kind)).toEqual([now + 4]);

    // at now + 4 both lift it: one deletes, the other finds it gone, and neither fails
    await waitFor(() => a.saw('unbanned') === 1 && b.saw('unbanned') === 1, 6000, 'both lifted');
    expect(untilsAtCloudflare(kind)).toEqual([]);
    for (const each of [a, b]) expect(each.outcomes.map(([what]) => what)).not.toContain('failed');
    await Promise.all([a.ledger.stop(100), b.ledger.stop(100)]);
  }, 20_000);
});

const rsyslogd = findRsyslogd();
const withRsyslog = rsyslogd ? describe : describe.skip;

withRsyslog('active/passive: rsyslog fails over to a standby edgeban (30-edgeban-failover.conf)', () => {
  const [X, Y, Z] = ['203.0.113.10', '203.0.113.20', '203.0.113.30'];
  const soft = (address: string) => `Authentication failure for admin from ${address}`;
  const hard = (address: string) => `Blocked user enumeration attempt from ${address}`;

  function edgeban(tcp: string) {
    return DaemonProcess.start({
      listen: { tcp: [tcp], udp: [] },
      // X's ban is waited out; Y's (a hard line) must still stand when the primary comes back after
      // X is lifted: with one bantime for both, Y ended a few seconds after X, and a primary slow
      // to restart on a loaded machine found it gone
      jails: {
        soft: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '12s', action: 'block' },
        hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1m', action: 'block' },
      },
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone, sweepInterval: '1s' },
      privacy: { logAddresses: 'plain' },
    });
  }
  const banned = (address: string) => (line: LogLine) => line.msg === 'banned' && line.key === `${address}/32`;
  const rulesFor = (address: string) => fake.allRules().filter((rule) => rule.configuration.value === address);
  const posts = (address: string) =>
    fake.requests.filter((r) => r.method === 'POST' && (r.body as { configuration?: { value?: string } })?.configuration?.value === address);

  /** Sends the attacker's line through rsyslog every 200 ms until `until` holds. */
  async function attackUntil(rsyslog: PrivateRsyslog, address: string, until: () => boolean, what: string, line = soft) {
    const deadline = Date.now() + 15_000;
    while (!until()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      rsyslog.log('wordpress(www.example.com)', line(address));
      await sleep(200);
    }
  }

  test('primary killed: the standby has adopted its bans, takes the lines, bans once, lifts on time; rsyslog returns to the primary', async () => {
    let primary = await edgeban('127.0.0.1:0');
    const standby = await edgeban('127.0.0.1:0');
    const primaryPort = primary.port('tcp');
    const rule = ruleFor('30-edgeban-failover.conf', primaryPort, {
      'edgeban-primary.example.net': '127.0.0.1',
      'edgeban-standby.example.net" port="5514"': `127.0.0.1" port="${standby.port('tcp')}"`,
      'action.resumeInterval="10"': 'action.resumeInterval="1"',
    });
    const rsyslog = new PrivateRsyslog(rsyslogd!, rule);
    try {
      expect(rsyslog.validate()).toBeNull();
      await rsyslog.start();
      // the primary bans X; the standby adopts it at its next sweep
      await attackUntil(rsyslog, X, () => primary.lines.some(banned(X)), 'primary bans X');
      await standby.waitForLog((line) => line.msg === 'adopted' && line.key === `${X}/32`, 5000);
      const xUntil = Number(primary.lines.find(banned(X))!.until);
      expect(standby.lines.filter((line) => line.msg === 'event')).toEqual([]); // nothing reached it while the primary ran

      await primary.stop('SIGKILL');
      // the lines go to the standby now: X again (already banned there: no second rule), then Y
      await attackUntil(rsyslog, X, () => standby.lines.some((line) => line.msg === 'event'), 'the standby gets lines');
      await attackUntil(rsyslog, Y, () => standby.lines.some(banned(Y)), 'standby bans Y', hard);
      expect(rulesFor(X)).toHaveLength(1);
      expect(posts(X).filter((r) => r.status === 200)).toHaveLength(1);
      expect(rulesFor(Y)).toHaveLength(1);

      // X is lifted by the standby at its expiry (or the later one an extension gave it), not before
      const lifted = await standby.waitForLog((line) => line.msg === 'unbanned' && line.key === `${X}/32`, 20_000);
      expect(Date.parse(String(lifted.time)) / 1000).toBeGreaterThanOrEqual(xUntil);
      expect(rulesFor(X)).toHaveLength(0);

      // the primary comes back on its port, adopts what the standby made, and rsyslog returns to it
      primary = await edgeban(`127.0.0.1:${primaryPort}`);
      await primary.waitForLog((line) => line.msg === 'adopted' && line.key === `${Y}/32`, 5000);
      await attackUntil(rsyslog, Z, () => primary.lines.some(banned(Z)), 'the primary takes the lines again');
      expect(rulesFor(Z)).toHaveLength(1);
      expect(fake.allRules().every((each) => each.notes.startsWith('edgeban until='))).toBe(true);
    } finally {
      await rsyslog.stop();
      await Promise.all([primary.stop(), standby.stop()]);
    }
  }, 60_000);
});
