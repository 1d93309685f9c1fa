/**
 * docs/benchmarks.md from bench/latest.json: `npm run bench` writes both, and
 * `node dist/bench/report.js` writes the page again from the JSON alone. A figure that is a
 * `{ median, min, max }` shows its spread; a missing one shows as "not measured".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/common/node-flags';

type Json = Record<string, unknown>;

export const LATEST_JSON = join(__dirname, '../../bench/latest.json');
export const BENCHMARKS_PAGE = join(__dirname, '../../docs/benchmarks.md');

interface Row {
  figure: string;
  path: string;
  unit: string;
  aim?: string;
}

const ROWS: Row[] = [
  {
    figure: 'the machine in the same rounds: a read of memory that waits for the one before, at random over 16 MiB',
    path: 'probe.memoryLatency16MiBNs',
    unit: 'ns',
  },
  { figure: '… over 64 MiB', path: 'probe.memoryLatency64MiBNs', unit: 'ns' },
  { figure: '… a step of an integer loop that stays in registers', path: 'probe.integerLoopNs', unit: 'ns' },
  {
    figure: 'parse + recognise, RSYSLOG_ForwardFormat lines, one core',
    path: 'recognise.parseRecognise_3164.linesPerSecond',
    unit: 'lines/s',
    aim: '1,000,000',
  },
  { figure: 'same, RFC 5424 lines', path: 'recognise.parseRecognise_5424.linesPerSecond', unit: 'lines/s', aim: '1,000,000' },
  {
    figure: 'parse + recognise + repeat filter + policy, in memory, one core',
    path: 'recognise.withPolicy_3164.linesPerSecond',
    unit: 'lines/s',
    aim: '500,000',
  },
  { figure: 'fail2ban-regex (hard + soft filter) on the side-by-side file', path: 'sideBySide.fail2banRegex.linesPerSecond', unit: 'lines/s' },
  { figure: 'CrowdSec on the same file', path: 'sideBySide.crowdsec.linesPerSecond', unit: 'lines/s' },
  { figure: '`edgeban replay --count` on the same file', path: 'sideBySide.edgebanRecognition.linesPerSecond', unit: 'lines/s' },
  { figure: '… times fail2ban-regex', path: 'sideBySide.edgebanRecognition.timesFail2banRegex', unit: '×', aim: '80×' },
  { figure: '… times CrowdSec', path: 'sideBySide.edgebanRecognition.timesCrowdsec', unit: '×' },
  { figure: 'the whole `edgeban replay --json` (policy and every ban printed)', path: 'sideBySide.edgebanReplay.linesPerSecond', unit: 'lines/s' },
  { figure: '… times fail2ban-regex', path: 'sideBySide.edgebanReplay.timesFail2banRegex', unit: '×', aim: '40×' },
  { figure: 'TCP, one connection, 1,000,000 messages (the second half a ban storm)', path: 'ingest.tcp1.messagesPerSecond', unit: 'msg/s', aim: '400,000' },
  { figure: '… lost', path: 'ingest.tcp1.lost', unit: 'messages', aim: '0' },
  { figure: 'TCP, four connections', path: 'ingest.tcp4.messagesPerSecond', unit: 'msg/s' },
  { figure: 'TLS, one connection, 500,000 messages', path: 'ingest.tls1.messagesPerSecond', unit: 'msg/s' },
  { figure: 'UDP at 50,000 msg/s offered: lost', path: 'ingest.udp50k.lossPercent', unit: '%' },
  { figure: 'UDP at 100,000 msg/s offered: lost', path: 'ingest.udp100k.lossPercent', unit: '%' },
  { figure: 'UDP at 150,000 msg/s offered: lost', path: 'ingest.udp150k.lossPercent', unit: '%', aim: '< 0.5 %' },
  { figure: '… dropped by the kernel, the socket’s receive buffer full (RcvbufErrors)', path: 'ingest.udp150k.kernelDroppedPercent', unit: '%' },
  { figure: '… dropped between edgeban’s threads, its ring full', path: 'ingest.udp150k.ringDroppedPercent', unit: '%' },
  {
    figure: '… a Node process that only counts the datagrams (dgram alone, the floor), same sender and rate, same round: lost',
    path: 'ingest.udp150kFloor.lossPercent',
    unit: '%',
  },
  { figure: 'same with a ban storm: lost', path: 'ingest.udp150kBanStorm.lossPercent', unit: '%', aim: '< 1 %' },
  { figure: '… dropped by the kernel', path: 'ingest.udp150kBanStorm.kernelDroppedPercent', unit: '%' },
  { figure: '… dropped between edgeban’s threads', path: 'ingest.udp150kBanStorm.ringDroppedPercent', unit: '%' },
  { figure: 'cold start: process start to listening', path: 'ingest.coldStart.medianMs', unit: 'ms', aim: '300 ms' },
  { figure: '1,000,000 tracked IPv4 addresses: resident', path: 'memory.ipv4_1M.rssMiB', unit: 'MiB', aim: '128 MiB' },
  { figure: 'flood of 3,000,000 unique IPv6 /64s, cap 1,000,000: resident', path: 'memory.ipv6_flood_3M_cap_1M.rssMiB', unit: 'MiB', aim: 'flat' },
  { figure: 'ban latency idle, frame to request at the fake Cloudflare: p99', path: 'latency.idle.latencyMs.p99', unit: 'ms', aim: '< 5 ms' },
  { figure: '… the first ban after start (cold code), apart from the p99', path: 'latency.idle.firstBanMs', unit: 'ms' },
  { figure: 'ban latency under a 50,000 msg/s flood: p99', path: 'latency.underLoad.latencyMs.p99', unit: 'ms', aim: '< 5 ms' },
  { figure: '… the flood handled while the bans were measured', path: 'latency.underLoad.backgroundHandledPerSecond', unit: 'msg/s' },
  { figure: 'botnet of 10,000 addresses, ip-list backend: seconds until all banned', path: 'botnet.ipList.secondsUntilAllBanned', unit: 's', aim: '120 s' },
  { figure: '… API calls', path: 'botnet.ipList.apiCalls', unit: 'calls' },
  { figure: 'same botnet, access rules: banned before the client budget ran out', path: 'botnet.accessRules.banned', unit: 'bans' },
  {
    figure: 'with `shared` (redis-server on loopback): soft events a second, counted there',
    path: 'highAvailability.shared.shared.eventsPerSecond',
    unit: 'events/s',
  },
  { figure: '… the same daemon without `shared`, same run', path: 'highAvailability.shared.local.eventsPerSecond', unit: 'events/s' },
  { figure: 'ban latency with `shared`, idle: p99', path: 'highAvailability.shared.shared.banLatencyMs.p99', unit: 'ms' },
  { figure: 'active/passive: primary killed (SIGKILL) to the standby’s first ban', path: 'highAvailability.failover.failoverMs', unit: 'ms' },
  {
    figure: 'low and slow: 20,000 addresses, 1–2 failed logins each at one site within 10 minutes: seconds from its start to the shield',
    path: 'shield.lowAndSlow.shield.secondsToShield',
    unit: 's',
  },
  { figure: '… per-address bans the jails made', path: 'shield.lowAndSlow.shield.perAddressBans', unit: 'bans' },
  { figure: '… API calls (the shield raised and lifted, and the bans)', path: 'shield.lowAndSlow.shield.apiCalls', unit: 'calls' },
  { figure: 'crowded: 500 addresses in ten /24s, access rules: rules without widening', path: 'shield.crowded.accessRules.perAddress.rules', unit: 'rules' },
  { figure: '… with widening (the default)', path: 'shield.crowded.accessRules.widened.rules', unit: 'rules' },
  { figure: '… API calls without widening', path: 'shield.crowded.accessRules.perAddress.apiCalls', unit: 'calls' },
  { figure: '… API calls with widening (the /24s, and the folded rules read and deleted)', path: 'shield.crowded.accessRules.widened.apiCalls', unit: 'calls' },
  { figure: 'same, ip-list: list items without widening', path: 'shield.crowded.ipList.perAddress.rules', unit: 'items' },
  { figure: '… with widening', path: 'shield.crowded.ipList.widened.rules', unit: 'items' },
];

function at(result: Json, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value && typeof value === 'object' ? (value as Json)[key] : undefined), result);
}

function number(value: number): string {
  return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en-US') : String(Math.round(value * 100) / 100);
}

/** A figure as text: a plain number, or a median with its min and max. */
function figure(value: unknown, unit: string): string {
  if (typeof value === 'number') return `${number(value)}${unit === '×' ? '' : ' '}${unit}`;
  if (value && typeof value === 'object' && typeof (value as Json).median === 'number') {
    const { median, min, max } = value as { median: number; min: number; max: number };
    return `${number(median)}${unit === '×' ? '' : ' '}${unit} (${number(min)} – ${number(max)})`;
  }
  return 'not measured';
}

export function renderBenchmarks(result: Json): string {
  const machine = (result.machine ?? {}) as Json;
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Written by bench/report.ts from bench/latest.json; `npm run bench` writes both. Do not edit by hand. -->',
    '',
    `Measured with \`${String(result.command ?? 'npm run bench')}\` on ${String(machine.date ?? 'an unknown date')}: ${String(machine.cpu ?? '?')}, ` +
      `${String(machine.cores ?? '?')} cores, ${String(machine.memoryGiB ?? '?')} GiB, Node ${String(machine.node ?? '?')}. ` +
      'Where a benchmark sends (ingest, latency), the sender runs on the same cores; its datagrams go out through `bench/udp-sender.c`, one send a datagram as rsyslog sends them (the CPU that took is `senderCpuSeconds` in the JSON). edgeban reads UDP with the batch reader built at `npm install` (`native/udp-batch.c`; `udpReader` in the JSON). Where a figure has a range, it is the median of several runs with their minimum and maximum.',
    '',
    '| figure | result | aim |',
    '|---|---|---|',
    ...ROWS.map((row) => `| ${row.figure} | ${figure(at(result, row.path), row.unit)} | ${row.aim ?? ''} |`),
    '',
    'How each is measured: `bench/probe.ts` (the machine alone, to tell its spells from edgeban’s changes: it shares its caches with neighbours, and the same code replayed the same file in 1.25 s in one hour and 1.9 s in the next while arithmetic kept its speed), `bench/recognise.ts` (the decoder and the policy in memory, on a million lines back to back in one buffer, as datagrams lie in the UDP ring), `bench/side-by-side.ts` (one generated 1,000,000-line auth.log read by fail2ban-regex, CrowdSec and `edgeban replay`, each timed from process start to exit; a tool that is not installed is skipped), `bench/ingest.ts` (a sender process on loopback against the daemon; at 150,000 datagrams/s also against `bench/udp-floor.ts`, a process that only counts them), `bench/latency.ts`, `bench/memory.ts`, `bench/botnet.ts` (against the fake Cloudflare, enforcing 1200 calls per 5 minutes), `bench/shared.ts` (a redis-server on a free loopback port; the failover through a real rsyslogd with `rsyslog/30-edgeban-failover.conf`, a line every 20 ms), `bench/shield.ts` (the low-and-slow attack through the pipeline on its own clock, as replay reads it, with the default jails and shield, among 6,000 lines to 49 other sites; the crowded networks through a daemon against the fake Cloudflare). Benchmarks of the path of one ban (latency, botnet, shared) run with `shield: false` and `widen: false`. ' +
      `Each runs with the Node flags edgeban runs with (\`${NODE_FLAGS.join(' ')}\`, see [Operations](operations.md)), and alone too: \`node ${NODE_FLAGS.join(' ')} dist/bench/<name>.js\`.`,
    '',
  ];
  return lines.join('\n');
}

export function writeBenchmarksPage(result: Json): void {
  writeFileSync(BENCHMARKS_PAGE, renderBenchmarks(result));
}

if (require.main === module) writeBenchmarksPage(JSON.parse(readFileSync(LATEST_JSON, 'utf8')) as Json);
