/**
 * End to end with Debian's rsyslog: a private rsyslogd loads the project's own forwarding rule,
 * `logger` writes WP fail2ban lines into it as PHP would, and `edgeban run` recognises them.
 */
import { DaemonProcess } from './helpers/daemon';
import { findRsyslogd, PrivateRsyslog, ruleFor } from './helpers/rsyslog';
import { makePki, TestPki } from './helpers/certs';
import { existsSync } from 'node:fs';
import { startFakeCloudflare } from './helpers/fake';
import { waitFor } from './helpers/wait';

const rsyslogd = findRsyslogd();
const hasOpenssl = existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so') || existsSync('/usr/lib/rsyslog/lmnsd_ossl.so');
if (!rsyslogd) console.warn('rsyslogd not found: end-to-end rsyslog tests skipped (apt-get install rsyslog; .ci/run does)');
const withRsyslog = rsyslogd ? describe : describe.skip;

const ATTACKER = '203.0.113.7';

async function forwardAndRecognise(
  ruleFile: string,
  transport: 'tcp' | 'udp' | 'tls',
  listen: Record<string, unknown>,
  replacements?: (port: number) => Record<string, string>,
) {
  const daemon = await DaemonProcess.start({ listen, privacy: { logAddresses: 'pseudonymize' } });
  const port = daemon.port(transport);
  const rsyslog = new PrivateRsyslog(rsyslogd!, ruleFor(ruleFile, port, replacements?.(port)));
  try {
    await rsyslog.start();
    rsyslog.log('wpa_supplicant', `Authentication failure for x from ${ATTACKER}`);
    rsyslog.log('wordpress(www.example.com)', `Authentication failure for admin from ${ATTACKER}`);
    rsyslog.log('wp(shop.example.org)', `Blocked user enumeration attempt from ${ATTACKER}`);
    rsyslog.log('wordpress(www.a-really-long-subdomain.example.co.uk)', 'XML-RPC authentication attempt for unknown user test from 2001:db8::5');
    rsyslog.log('wordpress(www.example.com)', 'Untrusted X-Forwarded-For header from 172.70.131.14');
    await daemon.waitForLog((line) => line.msg === 'event' && line.kind === 'untrusted_proxy_header');
    const events = daemon.lines.filter((line) => line.msg === 'event');
    expect(events.map((e) => [e.kind, e.site, e.ignored])).toEqual([
      ['auth_failure', 'www.example.com', null],
      ['user_enumeration', 'shop.example.org', null],
      ['xmlrpc_auth_unknown_user', 'www.a-really-long-subd', null],
      ['untrusted_proxy_header', 'www.example.com', 'cloudflare'],
    ]);
    const bans = daemon.lines.filter((line) => line.msg.startsWith('ban'));
    expect(bans.map((b) => b.jail)).toEqual(['wordpress-hard', 'wordpress-hard']);
    // logged after the event's line, and may come in the next read of the daemon's output
    await daemon.waitForLog((line) => line.level === 'warn' && String(line.msg).includes('CF-Connecting-IP'));
    // pseudonymised: the attacker's address never appears in the log
    expect(JSON.stringify(daemon.lines)).not.toContain(ATTACKER);
    expect(events[0].address).toMatch(/^~[0-9a-f]{12}$/);
  } finally {
    await rsyslog.stop();
    await daemon.stop();
  }
}

withRsyslog('rsyslog → edgeban', () => {
  test('every rule in rsyslog/ passes rsyslogd -N1', async () => {
    const pki = makePki();
    try {
      for (const file of ['30-edgeban-tcp.conf', '30-edgeban-udp.conf', '30-edgeban-failover.conf', ...(hasOpenssl ? ['30-edgeban-tls.conf'] : [])]) {
        const rule = ruleFor(file, 5514, tlsFiles(pki));
        const rsyslog = new PrivateRsyslog(rsyslogd!, rule);
        expect(rsyslog.validate()).toBeNull();
        await rsyslog.stop();
      }
    } finally {
      pki.remove();
    }
  });

  test('TCP octet-counted with RSYSLOG_ForwardFormat (30-edgeban-tcp.conf)', () =>
    forwardAndRecognise('30-edgeban-tcp.conf', 'tcp', { tcp: ['127.0.0.1:0'], udp: [] }));

  test('a burst of 20,000 lines over TCP (read in large pieces, so through the decode thread): every one counted once', async () => {
    const daemon = await DaemonProcess.start({ listen: { tcp: ['127.0.0.1:0'], udp: [] } }, { EDGEBAN_LOG_LEVEL: 'info' });
    const rsyslog = new PrivateRsyslog(rsyslogd!, ruleFor('30-edgeban-tcp.conf', daemon.port('tcp')));
    const admin = String(daemon.lines.find((line) => line.msg === 'edgeban listening')!.admin);
    const status = async () => (await (await fetch(`${admin}/status`)).json()) as { lines: number; events: number };
    try {
      await rsyslog.start();
      const N = 20_000;
      rsyslog.logMany(
        'wordpress(www.example.com)',
        Array.from({ length: N }, (_, i) => `Authentication failure for u from 198.51.${i >> 8}.${i & 255}`),
      );
      let seen = { lines: 0, events: 0 };
      for (const deadline = Date.now() + 20_000; seen.lines < N && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        seen = await status();
      }
      expect(seen).toMatchObject({ lines: N, events: N });
    } finally {
      await rsyslog.stop();
      await daemon.stop();
    }
  });

  test('UDP (30-edgeban-udp.conf)', () => forwardAndRecognise('30-edgeban-udp.conf', 'udp', { udp: ['127.0.0.1:0'], tcp: [] }));

  test('rsyslog forwards logger lines to edgeban run, which bans in the fake Cloudflare', async () => {
    const { fake, zone, token } = await startFakeCloudflare();
    const daemon = await DaemonProcess.start(
      { listen: { tcp: ['127.0.0.1:0'], udp: [] } },
      { CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_API_BASE: fake.baseUrl, CLOUDFLARE_ZONE_ID: zone },
    );
    const rsyslog = new PrivateRsyslog(rsyslogd!, ruleFor('30-edgeban-tcp.conf', daemon.port('tcp')));
    try {
      await rsyslog.start();
      rsyslog.log('wordpress(www.example.com)', `Blocked user enumeration attempt from ${ATTACKER}`);
      for (let i = 0; i < 5; i++) rsyslog.log('wp(www.example.com)', 'Authentication failure for admin from 2001:db8:aa:bb::1');
      await waitFor(() => fake.allRules().length === 2, 10_000, 'two rules at the fake');
      expect(
        fake
          .allRules()
          .map((r) => [r.configuration.target, r.configuration.value, r.mode])
          .sort(),
      ).toEqual([
        ['ip', ATTACKER, 'block'],
        ['ip_range', '2001:db8:aa:bb::/64', 'managed_challenge'],
      ]);
    } finally {
      await rsyslog.stop();
      await daemon.stop();
      await fake.stop();
    }
  });

  (hasOpenssl ? test : test.skip)('mutual TLS (30-edgeban-tls.conf)', async () => {
    const pki = makePki();
    try {
      await forwardAndRecognise(
        '30-edgeban-tls.conf',
        'tls',
        { tcp: [], udp: [], tls: [{ address: '127.0.0.1:0', cert: pki.serverCert, key: pki.serverKey, ca: pki.ca }] },
        () => tlsFiles(pki),
      );
    } finally {
      pki.remove();
    }
  });
});

function tlsFiles(pki: TestPki): Record<string, string> {
  return {
    '/etc/rsyslog.d/edgeban/ca.pem': pki.ca,
    '/etc/rsyslog.d/edgeban/client.pem': pki.clientCert,
    '/etc/rsyslog.d/edgeban/client-key.pem': pki.clientKey,
    'StreamDriverPermittedPeers="edgeban.example.net"': 'StreamDriverPermittedPeers="localhost"',
  };
}
