/**
 * The live page in a real browser: Debian's chromium, headless, loads it from a daemon the test
 * feeds with attacks, runs its script, and the figures must be drawn, as numbers and as charts.
 * `.ci/run` installs chromium; where it is missing the test says so and is skipped.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFakeCloudflare } from './helpers/fake';
import { TestDaemon } from './helpers/in-process';
import { waitFor } from './helpers/wait';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => spawnSync(path, ['--version']).status === 0);
if (!CHROMIUM) console.warn('chromium not installed: the live page test is skipped (apt-get install chromium)');

/**
 * The page's DOM once its script has run, as headless chromium sees it; with `screenshot`, a PNG
 * instead. Asynchronous: the daemon answering the page runs in this process.
 */
async function render(url: string, screenshot?: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'edgeban-chromium-'));
  try {
    const flags = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ];
    const args = [
      ...flags,
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=3000',
      screenshot ? `--screenshot=${screenshot}` : '--dump-dom',
      '--window-size=1200,760',
      url,
    ];
    const { stdout } = await promisify(execFile)(CHROMIUM!, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 8 << 20 });
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

(CHROMIUM ? test : test.skip)(
  'the page shows what the daemon saw: numbers and charts, and no address',
  async () => {
    const { fake, zone, token } = await startFakeCloudflare();
    const daemon = await new TestDaemon({
      jails: { hard: { events: ['hard'], maxretry: 1, findtime: '10m', bantime: '1h' } },
      cloudflare: { token, apiBase: fake.baseUrl, zoneId: zone },
    }).start();
    try {
      for (let i = 1; i <= 3; i++) daemon.send(`Blocked user enumeration attempt from 203.0.113.${i}`);
      daemon.send('Authentication failure for admin from 198.51.100.7', 'shop.example.org');
      await waitFor(() => fake.allRules().length === 3);
      // one ban Cloudflare refuses for good: an error the page lists, its address never shown
      fake.fail({ count: 1, status: 400 });
      daemon.send('Blocked user enumeration attempt from 203.0.113.4');
      await waitFor(() => daemon.daemon.view.banOutcomes.get('failed') === 1);
      const dom = await render(`http://127.0.0.1:${daemon.daemon.admin!.port}/`);
      const figure = (name: string) => new RegExp(`data-figure="${name}">([^<]*)<`).exec(dom)?.[1];
      expect([figure('events-minute'), figure('active-bans'), figure('bans-ordered'), figure('queue')]).toEqual(['5', '3', '4', '0']);
      expect(figure('api-budget')).toMatch(/^\d+ \/ 1000$/);
      expect(figure('api-left')).toMatch(/^\d+ left at Cloudflare$/);
      expect(dom).toMatch(
        /<td>failed \(hard\)<\/td><td class="n">POST \/zones\/\w+\/firewall\/access_rules\/rules: HTTP 400, 10013 An unknown error has occurred<\/td>/,
      );
      expect(dom).toMatch(/<rect class="hard"/);
      expect(dom).toMatch(/<rect class="soft"/);
      expect(dom).toMatch(/<rect class="banned"/);
      expect(dom).toContain('<td>shop.example.org</td>');
      expect(dom).toMatch(/<td>hard<\/td><td>block<\/td><td class="n">3<\/td>/);
      for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '198.51.100.7']) expect(dom).not.toContain(address);
      if (process.env.EDGEBAN_SCREENSHOT) await render(`http://127.0.0.1:${daemon.daemon.admin!.port}/`, process.env.EDGEBAN_SCREENSHOT);
    } finally {
      await daemon.stop();
      await fake.stop();
    }
  },
  60_000,
);
