/**
 * CrowdSec (Debian's package) on the side-by-side corpus: its agent reads the file once
 * (`crowdsec -dsn file://… -type syslog`, its time-machine mode), with the hub's syslog parser and
 * bench/crowdsec/wp-fail2ban.yaml, no scenario: the work fail2ban-regex and `edgeban replay
 * --count` do. Everything lives in a directory of its own (config, SQLite database, a local API on
 * a loopback port, as the agent will not run without one); CrowdSec's Central API is never asked.
 * The lines it parsed and matched come from its own Prometheus counters, read on loopback while
 * it runs (it exits once the file is done).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join, resolve } from 'node:path';

const HUB = '/usr/share/crowdsec/hub';
const SYSLOG_PARSER = join(HUB, 'parsers/s00-raw/crowdsecurity/syslog-logs.yaml');
const PATTERNS = '/etc/crowdsec/patterns';
const PARSER = resolve(__dirname, '../../../bench/crowdsec/wp-fail2ban.yaml');
const LIMIT_MS = 5 * 60_000;
const POLL_MS = 100;

export interface CrowdsecResult {
  version: string;
  /** process start to exit, as fail2ban-regex and edgeban are timed */
  seconds: number;
  linesPerSecond: number;
  /** process start to the moment its counters showed every line parsed (it then waits a while for its buckets before exiting) */
  secondsUntilAllParsed: number | null;
  parsed: number;
  matched: number;
}

function installed(): boolean {
  return spawnSync('sh', ['-c', 'command -v crowdsec && command -v cscli']).status === 0 && existsSync(SYSLOG_PARSER) && existsSync(PATTERNS);
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

/** The agent's own config: every path in `home`, its local API and metrics on loopback ports. */
function configure(home: string, apiPort: number, metricsPort: number): string {
  const etc = join(home, 'etc');
  for (const sub of ['parsers/s00-raw', 'parsers/s01-parse', 'scenarios', 'postoverflows']) mkdirSync(join(etc, sub), { recursive: true });
  mkdirSync(join(home, 'data'));
  copyFileSync(SYSLOG_PARSER, join(etc, 'parsers/s00-raw/syslog-logs.yaml'));
  copyFileSync(PARSER, join(etc, 'parsers/s01-parse/wp-fail2ban.yaml'));
  cpSync(PATTERNS, join(etc, 'patterns'), { recursive: true });
  writeFileSync(join(etc, 'acquis.yaml'), '');
  writeFileSync(join(etc, 'simulation.yaml'), 'simulation: off\n');
  writeFileSync(
    join(etc, 'profiles.yaml'),
    'name: default\nfilters:\n - Alert.Remediation == true\ndecisions:\n - type: ban\n   duration: 4h\non_success: break\n',
  );
  const config = join(home, 'config.yaml');
  writeFileSync(
    config,
    `common: { daemonize: false, log_media: stdout, log_level: warning, working_dir: ${home} }
config_paths:
  config_dir: ${etc}/
  data_dir: ${home}/data/
  hub_dir: ${HUB}/
  index_path: ${HUB}/.index.json
  simulation_path: ${etc}/simulation.yaml
crowdsec_service: { acquisition_path: ${etc}/acquis.yaml, parser_routines: 1 }
db_config: { type: sqlite, db_path: ${home}/data/crowdsec.db, use_wal: true }
api:
  client: { credentials_path: ${etc}/local_api_credentials.yaml }
  server: { listen_uri: "127.0.0.1:${apiPort}", profiles_path: ${etc}/profiles.yaml }
prometheus: { enabled: true, level: full, listen_addr: 127.0.0.1, listen_port: ${metricsPort} }
`,
  );
  const register = spawnSync('cscli', ['-c', config, 'machines', 'add', 'edgeban-bench', '--auto', '-f', join(etc, 'local_api_credentials.yaml')], {
    encoding: 'utf8',
  });
  if (register.status !== 0) throw new Error(`cscli machines add: ${register.stderr.trim().split('\n').pop()}`);
  return config;
}

function scrape(port: number): Promise<string | null> {
  return new Promise((done) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/metrics', timeout: 1000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => done(body));
      response.on('error', () => done(null));
    });
    request.on('error', () => done(null));
    request.on('timeout', () => request.destroy());
  });
}

/** The sum of a counter's series (`name{…} value` lines). */
function counter(metrics: string, name: string): number {
  let sum = 0;
  for (const line of metrics.split('\n')) if (line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

export async function benchCrowdsec(log: string, lines: number, dir: string): Promise<CrowdsecResult | { skipped: string }> {
  if (!installed()) return { skipped: 'CrowdSec not installed (apt-get install crowdsec)' };
  const home = join(dir, 'crowdsec');
  const metricsPort = await freePort();
  const config = configure(home, await freePort(), metricsPort);
  const probe = spawnSync('crowdsec', ['-version'], { encoding: 'utf8' });
  const version = `${probe.stdout}${probe.stderr}`.match(/version: (\S+)/)?.[1] ?? 'unknown';
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  const logFile = join(home, 'crowdsec.log');
  const out = openSync(logFile, 'w');
  const child = spawn('crowdsec', ['-c', config, '-dsn', `file://${log}`, '-type', 'syslog', '-no-capi'], { stdio: ['ignore', out, out] });
  closeSync(out);
  const exit = exited(child);
  const limit = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
  let running = true;
  void exit.then(() => (running = false));
  let parsed = 0;
  let matched = 0;
  let secondsUntilAllParsed: number | null = null;
  while (running) {
    const metrics = await scrape(metricsPort);
    if (metrics) {
      parsed = Math.max(parsed, counter(metrics, 'cs_parser_hits_ok_total') + counter(metrics, 'cs_parser_hits_ko_total'));
      matched = Math.max(matched, counter(metrics, 'cs_parser_hits_ok_total'));
      if (secondsUntilAllParsed === null && parsed >= lines) secondsUntilAllParsed = Number(elapsed().toFixed(2));
    }
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
  const code = await exit;
  const seconds = elapsed();
  clearTimeout(limit);
  if (code !== 0) throw new Error(`crowdsec exited with ${code}: ${readFileSync(logFile, 'utf8').trim().split('\n').pop()}`);
  return { version, seconds: Number(seconds.toFixed(2)), linesPerSecond: Math.round(lines / seconds), secondsUntilAllParsed, parsed, matched };
}
