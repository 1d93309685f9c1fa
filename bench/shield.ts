/**
 * Botnets that try each address once. Two scenes, each printed as JSON:
 *
 * - low and slow: 20,000 addresses spread over the IPv4 space make one or two failed logins each
 *   against one site within ten minutes, among ordinary traffic to 49 other sites (successful logins
 *   and a few failures). The lines run through the pipeline on their own clock, as replay reads
 *   them, with the embedded default's jails and shield; reports the seconds from the attack's first
 *   line to the shield, the per-address bans the jails made, the sites shielded, and the API calls
 *   that makes at Cloudflare (a ban is one call; a shield raised, extended or lifted is a read of
 *   the zone's rules and one write).
 * - a crowded network: 500 addresses in ten /24s, one user enumeration each, sent to a daemon over
 *   TCP within about a second, against the fake Cloudflare, once with `widen: false` and once with
 *   the default; reports the rules at the end and the API calls.
 */
import { buildConfig } from '../src/config/load';
import { Decoder } from '../src/decode/decoder';
import { createEscalation, createPolicy, Pipeline } from '../src/policy/pipeline';
import { octetCounted } from '../test/helpers/wire';
import { prng } from './corpus';
import { startEdgeDaemon } from './edge-daemon';

const ATTACKERS = 20_000;
const ATTACK_SECONDS = 600;
const OTHER_SITES = 49;
const ORDINARY_LINES = 6_000;
const VICTIM = 'www.victim.example';
/** first octets of public, unicast space outside Cloudflare's ranges: every attacker is a client */
const FIRST_OCTETS = [23, 31, 37, 45, 62, 77, 78, 81, 85, 91, 93, 95, 109, 176, 178, 185, 193, 194, 195, 212, 213, 217];

interface Line {
  at: number;
  text: string;
}

function syslogLine({ at, text }: Line, site: string): string {
  return `<37>${new Date(at).toISOString()} web1 wordpress(${site})[1]: ${text}`;
}

function lowAndSlowLines(start: number): { site: string; line: Line }[] {
  const random = prng(0x5eed);
  const lines: { site: string; line: Line }[] = [];
  for (let i = 0; i < ATTACKERS; i++) {
    const address = `${FIRST_OCTETS[random() % FIRST_OCTETS.length]}.${random() % 256}.${random() % 256}.${1 + (random() % 254)}`;
    for (let n = 1 + (random() % 2); n > 0; n--) {
      const at = start + (random() % (ATTACK_SECONDS * 1000));
      lines.push({ site: VICTIM, line: { at, text: `Authentication failure for admin from ${address}` } });
    }
  }
  for (let i = 0; i < ORDINARY_LINES; i++) {
    const site = `site${random() % OTHER_SITES}.example.org`;
    const address = `${FIRST_OCTETS[random() % FIRST_OCTETS.length]}.${random() % 256}.7.${1 + (random() % 254)}`;
    const text = random() % 5 === 0 ? `Authentication failure for editor from ${address}` : `Accepted password for editor from ${address}`;
    lines.push({ site, line: { at: start + (random() % (ATTACK_SECONDS * 1000)), text } });
  }
  return lines.sort((a, b) => a.line.at - b.line.at);
}

function lowAndSlow(shield: boolean): Record<string, unknown> {
  const config = buildConfig({ shield: shield ? {} : false, widen: false }, {});
  const policy = createPolicy(config);
  const pipeline = new Pipeline(policy, new Decoder('message'), createEscalation(config, policy));
  const start = Date.UTC(2026, 0, 5, 3);
  const lines = lowAndSlowLines(start);
  let bans = 0;
  let firstShield: number | null = null;
  const shieldOrders: { site: string; until: number }[] = [];
  for (const { site, line } of lines) {
    const outcome = pipeline.handle(syslogLine(line, site), line.at, false);
    if (outcome.type !== 'event') continue;
    bans += outcome.orders.length;
    if (outcome.shield) {
      firstShield ??= line.at;
      shieldOrders.push(outcome.shield);
    }
  }
  const sites = [...new Set(shieldOrders.map((order) => order.site))];
  return {
    attackers: ATTACKERS,
    lines: lines.length,
    secondsToShield: firstShield === null ? null : (firstShield - start) / 1000,
    shieldOrders: shieldOrders.length,
    sitesShielded: sites,
    perAddressBans: bans,
    // a ban is one call; each shield order reads the zone's rules and writes one, and so does its lift
    apiCalls: bans + (shieldOrders.length > 0 ? 2 * shieldOrders.length + 2 : 0),
  };
}

async function crowded(widen: boolean, backend: 'access-rules' | 'ip-list'): Promise<Record<string, unknown>> {
  const edge = await startEdgeDaemon(backend, { shield: false, ...(widen ? {} : { widen: false }) });
  const { daemon, socket, banned: rules } = edge;
  const started = performance.now();
  for (let i = 0; i < 500; i++) {
    const address = `45.${60 + (i % 10)}.${17 * (i % 10)}.${1 + Math.floor(i / 10)}`;
    const line = syslogLine({ at: Date.now(), text: `Blocked user enumeration attempt from ${address}` }, 'www.example.com');
    socket.write(octetCounted(line));
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const expected = widen ? 10 : 500;
  const deadline = performance.now() + 60_000;
  let settledSince = performance.now();
  let last = -1;
  // done when the count is what it should be and has stayed so (the folds are deletions after the /24s)
  while (performance.now() < deadline) {
    const now = rules();
    if (now !== last) [last, settledSince] = [now, performance.now()];
    if (now === expected && performance.now() - settledSince > 1000 && daemon.ledger.queued === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  const result = {
    rules: rules(),
    apiCalls: edge.calls(),
    seconds: Number(seconds.toFixed(1)),
  };
  await edge.stop();
  return result;
}

export async function benchShield(): Promise<Record<string, unknown>> {
  return {
    lowAndSlow: { shield: lowAndSlow(true), jailsAlone: lowAndSlow(false) },
    crowded: {
      accessRules: { perAddress: await crowded(false, 'access-rules'), widened: await crowded(true, 'access-rules') },
      ipList: { perAddress: await crowded(false, 'ip-list'), widened: await crowded(true, 'ip-list') },
    },
  };
}

if (require.main === module) void benchShield().then((result) => console.log(JSON.stringify({ shield: result }, null, 2)));
