import { readFileSync } from 'node:fs';
import { CidrSet } from './address/cidr';
import { Ledger, LedgerOutcome } from './bans/ledger';
import { AccessRulesBackend } from './cloudflare/access-rules';
import type { Backend, EdgeBan } from './cloudflare/backend';
import { CloudflareClient } from './cloudflare/client';
import { DryRunBackend } from './cloudflare/dry-run';
import { IpListBackend } from './cloudflare/ip-list';
import { fetchCloudflareRanges } from './cloudflare/ips';
import { accessRulesConfig, configuredZoneIds } from './cloudflare/settings';
import { CLOUDFLARE_RANGES } from './policy/trust';
import type { Config } from './config/schema';
import { DecodeThread, decodeHere } from './ingest/decode-thread';
import type { FrameBatch } from './ingest/frame-batch';
import { Ingest, IngestOutcome, parseHostPort, Transport } from './ingest/listeners';
import { formatIp, parseIp } from './address/ip';
import { AdminBan, AdminServer } from './observe/admin';
import { AddressMask, Logger } from './observe/log';
import { Metrics } from './observe/metrics';
import { createPolicy, Decoded, Decoder, Pipeline, policyOptions, Tally } from './pipeline';

const PURGE_INTERVAL_MS = 60_000;
const SWEEP_INTERVAL_MS = 5 * 60_000;
const RANGES_REFRESH_MS = 24 * 3600_000;
/** On SIGTERM, queued bans get this long to reach Cloudflare. */
export const STOP_GRACE_MS = 5_000;

export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** tests inject a backend; by default it follows the config (dry run without a token) */
  backend?: Backend;
  sweepIntervalMs?: number;
}

export interface BackendHooks {
  onResponse?: (status: number) => void;
  onWait?: (reason: 'budget' | 'rate_limited', ms: number) => void;
}

/** Frames waiting in the decode thread: streams pause above HIGH and resume below LOW. */
const DECODE_BACKLOG_HIGH = 50_000;
const DECODE_BACKLOG_LOW = 10_000;
/** A read of at most this many frames is decoded on the main thread when the decode thread is idle. */
const DECODE_HERE_MAX_FRAMES = 64;

/** The backend the config asks for: access rules with a token, the dry run without one. */
export function createBackend(config: Config, hooks: BackendHooks = {}): Backend {
  const settings = accessRulesConfig(config);
  const { token, dryRun, apiBase, requestsPer5Min } = config.cloudflare;
  if (!token || dryRun) return new DryRunBackend(settings);
  const client = new CloudflareClient({ baseUrl: apiBase, token, requestsPer5Min, ...hooks });
  if (config.cloudflare.backend === 'ip-list') {
    return new IpListBackend(client, {
      accountId: config.cloudflare.accountId!,
      zoneIds: configuredZoneIds(config),
      actions: [...new Set(Object.values(config.jails).map((jail) => jail.action))],
      itemLimit: config.cloudflare.listItemLimit,
    });
  }
  return new AccessRulesBackend(client, settings);
}

/** Wires ingest → pipeline → ledger → backend, and owns start and stop. */
export class Daemon {
  readonly ingestOutcomes = new Tally();
  readonly decodedIn = new Tally();
  readonly banOutcomes = new Tally();
  readonly apiResponses = new Tally();
  readonly pipeline: Pipeline;
  readonly addressMask: AddressMask;
  readonly ledger: Ledger;
  readonly backend: Backend;
  readonly metrics: Metrics;
  admin: AdminServer | null = null;
  private readonly ingest: Ingest;
  private readonly decoding: DecodeThread;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();
  private stopped = false;
  /** the reconciliation made at start (tests wait for it) */
  startupSweep: Promise<void> = Promise.resolve();
  /** the GET /ips made at start with `cloudflareRanges: refresh` */
  rangesRefresh: Promise<void> = Promise.resolve();

  constructor(private options: DaemonOptions) {
    const { config, log } = options;
    this.addressMask = new AddressMask(config.privacy.logAddresses);
    this.pipeline = new Pipeline(createPolicy(config), new Decoder('arrival'));
    this.decoding = new DecodeThread(this.pipeline.decoder, (error) =>
      log.error({ error: error.message }, 'the decode thread stopped; decoding on the main thread from now on'),
    );
    this.backend =
      options.backend ??
      createBackend(config, {
        onResponse: (status) => this.apiResponses.add(String(status)),
        onWait: (reason, ms) =>
          log.warn({ reason, waitMs: ms }, reason === 'rate_limited' ? 'Cloudflare answered 429: pausing every call' : 'client-side request budget reached: waiting'),
      });
    this.ledger = new Ledger({
      backend: this.backend,
      events: { outcome: (what, ban, detail, latencyMs) => this.onBanOutcome(what, ban, detail, latencyMs) },
    });
    const stats = this.pipeline.stats;
    this.metrics = new Metrics({
      frames: this.ingestOutcomes,
      decodedIn: this.decodedIn,
      rejected: stats.rejected,
      kinds: stats.kinds,
      ignored: stats.ignored,
      banOutcomes: this.banOutcomes,
      apiResponses: this.apiResponses,
      backend: () => this.backend.name,
      queueDepth: () => this.ledger.queued,
      trackedKeys: () => this.pipeline.policy.tracked,
      activeBans: () => this.ledger.active.size,
    });
    this.ingest = new Ingest(
      {
        udp: config.listen.udp,
        tcp: config.listen.tcp,
        tls: config.listen.tls.map((endpoint) => ({
          address: endpoint.address,
          cert: readFileSync(endpoint.cert),
          key: readFileSync(endpoint.key),
          ca: endpoint.ca ? readFileSync(endpoint.ca) : undefined,
        })),
        allowedSenders: new CidrSet(config.listen.allowedSenders),
        maxMessageBytes: config.listen.maxMessageBytes,
        maxConnections: config.listen.maxConnections,
        idleTimeoutMs: config.listen.idleTimeout * 1000,
        udpReceiveBufferBytes: config.listen.udpReceiveBuffer,
      },
      {
        frames: (batch, _sender, transport) => this.onFrames(batch, transport),
        outcome: (transport, outcome, count) => this.onOutcome(transport, outcome, count),
        listenerCrashed: (error) => this.options.log.error({ error: error.message }, 'a UDP listener thread stopped; restarting it in a second'),
      },
    );
  }

  get bound() {
    return this.ingest.bound;
  }

  async start(): Promise<void> {
    const { log, config } = this.options;
    const decoding = this.decoding.start();
    try {
      await this.ingest.start();
      await decoding;
    } catch (error) {
      await this.decoding.stop();
      throw error;
    }
    if (config.admin.enabled) {
      this.admin = new AdminServer(config.admin.listen, config.admin.token, this);
      try {
        await this.admin.start();
      } catch (error) {
        await this.ingest.stop();
        await this.decoding.stop();
        throw new Error(`admin endpoint ${config.admin.listen}: ${(error as Error).message}`);
      }
    }
    this.every(PURGE_INTERVAL_MS, () => this.pipeline.purgeStale(Date.now()));
    this.every(this.options.sweepIntervalMs ?? SWEEP_INTERVAL_MS, () => void this.sweep());
    if (config.trust.cloudflareRanges === 'refresh') {
      this.every(RANGES_REFRESH_MS, () => void this.refreshRanges());
      this.rangesRefresh = this.refreshRanges();
    }
    if (config.privacy.logAddresses === 'plain') {
      log.warn('privacy.logAddresses is "plain": visitor addresses will appear in the logs');
    }
    log.info(
      {
        listening: this.listening(),
        admin: this.admin ? `http://${formatHost(parseHostPort(config.admin.listen).host)}:${this.admin.port}` : null,
        backend: this.backend.name,
        pid: process.pid,
      },
      'edgeban listening',
    );
    this.startupSweep = this.sweep();
  }

  /** Stops listening; queued bans get `graceMs` to go out; bans are not lifted. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.ingest.stop();
    await this.decoding.stop(); // what it had not answered is decoded here, and counted
    await this.admin?.stop();
    await this.ledger.stop(graceMs);
  }

  /** Adopts live edgeban rules and deletes expired ones; at start, then every few minutes. */
  async sweep(): Promise<void> {
    try {
      const { adopted, expired } = await this.ledger.reconcile();
      if (adopted || expired) this.options.log.info({ adopted, expired, backend: this.backend.name }, 'reconciled with Cloudflare');
    } catch (error) {
      this.options.log.error({ error: (error as Error).message }, 'cannot list the rules at Cloudflare; will try again at the next sweep');
    }
  }

  /**
   * SIGHUP: applies what can change while running (trust, jails, log privacy, listener limits),
   * keeping windows where the jails allow it, counters and bans. Returns what changed and what
   * only a restart applies.
   */
  reload(next: Config): { applied: string[]; needsRestart: string[] } {
    const current = this.options.config;
    const changed = (path: string, a: unknown, b: unknown) => (JSON.stringify(a) !== JSON.stringify(b) ? [path] : []);
    const applied = [
      ...changed('trust', current.trust, next.trust),
      ...changed('jails', current.jails, next.jails),
      ...changed('privacy', current.privacy, next.privacy),
      ...changed('listen limits', limits(current), limits(next)),
    ];
    const needsRestart = [
      ...changed('listen addresses', addresses(current), addresses(next)),
      ...changed('cloudflare', current.cloudflare, next.cloudflare),
      ...changed('admin', current.admin, next.admin),
    ];
    if (applied.includes('trust') || applied.includes('jails')) {
      const kept = this.pipeline.policy.reconfigure(policyOptions(next));
      if (!kept) applied.push('(windows restarted: jail names, maxretry or prefixes changed)');
    }
    this.addressMask.mode = next.privacy.logAddresses;
    this.ingest.updateLimits({
      allowedSenders: new CidrSet(next.listen.allowedSenders),
      maxMessageBytes: next.listen.maxMessageBytes,
      maxConnections: next.listen.maxConnections,
      idleTimeoutMs: next.listen.idleTimeout * 1000,
    });
    // keep running on the old values of what needs a restart
    this.options = {
      ...this.options,
      config: { ...next, listen: { ...next.listen, udp: current.listen.udp, tcp: current.listen.tcp, tls: current.listen.tls }, cloudflare: current.cloudflare, admin: current.admin },
    };
    return { applied, needsRestart };
  }

  // ---- what the admin endpoint asks

  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  status(): Record<string, unknown> {
    const stats = this.pipeline.stats;
    return {
      backend: this.backend.name,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      listening: this.listening(),
      lines: stats.lines,
      events: stats.events,
      bansOrdered: stats.bans,
      activeBans: this.ledger.active.size,
      queued: this.ledger.queued,
      trackedKeys: this.pipeline.policy.tracked,
    };
  }

  bans(): AdminBan[] {
    return [...this.ledger.active.values()].map(({ key, jail, action, until, location }) => ({ key, jail, action, until, location }));
  }

  mask(address: string): string {
    return this.addressMask.show(address);
  }

  /** An operator's unban: lifts the ban of this address's key everywhere, and forgets its window. */
  unban(address: string): string[] | null {
    const ip = parseIp(address.trim().split('/')[0]);
    if (!ip) return null;
    const key = this.pipeline.policy.keyOf(ip);
    const lifted = [...this.ledger.active.values()].filter((ban) => ban.key === key).map((ban) => ban.location);
    for (const location of lifted) this.ledger.unban(location, key);
    this.pipeline.policy.forget(ip);
    this.options.log.info({ key: this.addressMask.show(key), locations: lifted.length }, 'unban asked through the admin endpoint');
    return lifted.length ? [key] : [];
  }

  /** `cloudflareRanges: refresh`: bundled ∪ GET /ips, so an edge address in either is never banned. */
  async refreshRanges(): Promise<void> {
    try {
      const fetched = await fetchCloudflareRanges(this.options.config.cloudflare.apiBase);
      this.pipeline.policy.setCloudflareRanges([...new Set([...CLOUDFLARE_RANGES, ...fetched])]);
      this.options.log.info({ ranges: fetched.length }, 'Cloudflare ranges refreshed from GET /ips');
    } catch (error) {
      this.options.log.warn({ error: (error as Error).message }, 'cannot refresh Cloudflare ranges; keeping the bundled list');
    }
  }

  /** `transport://host:port` of every listener, as the start-up log and /status show them. */
  private listening(): string[] {
    return this.ingest.bound.map((b) => `${b.transport}://${formatHost(b.host)}:${b.port}`);
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private onOutcome(transport: Transport, outcome: IngestOutcome, count = 1): void {
    this.ingestOutcomes.add(outcomeKey(transport, outcome), count);
  }

  /**
   * A read of many frames (a flood) goes to the decode thread, and its decoded lines come back in
   * order to the policy here; past DECODE_BACKLOG_HIGH frames waiting, streams pause (rsyslog
   * waits) until the backlog is under DECODE_BACKLOG_LOW. A few frames, with nothing waiting there,
   * are decoded here: a thread hop would cost more than it saves, and latency is what matters
   * then. UDP batches, which come from a thread of their own already, are always decoded here: a
   * third busy thread on two cores lost datagrams.
   */
  private onFrames(batch: FrameBatch, transport: Transport): void {
    const mayRepeat = transport !== 'udp';
    if (!mayRepeat || (this.decoding.backlog === 0 && batch.times.length <= DECODE_HERE_MAX_FRAMES)) {
      decodeHere(this.pipeline.decoder, { ...batch, mayRepeat }, (line) => this.onDecoded(line));
      this.decodedIn.add('main', batch.times.length);
      return;
    }
    this.decodedIn.add('thread', batch.times.length);
    this.decoding.submit(
      { ...batch, mayRepeat },
      (line) => this.onDecoded(line),
      () => {
        if (this.decoding.backlog < DECODE_BACKLOG_LOW) this.ingest.resumeStreams();
      },
    );
    if (this.decoding.backlog > DECODE_BACKLOG_HIGH) this.ingest.pauseStreams();
  }

  private onDecoded(decoded: Decoded): void {
    const outcome = this.pipeline.account(decoded);
    if (outcome.type !== 'event') return;
    const { event, ignored, orders, warnMisconfigured } = outcome;
    const { log } = this.options;
    if (log.isLevelEnabled('debug')) {
      log.debug({ kind: event.kind, class: event.class, address: this.addressMask.show(formatIp(event.ip)), site: event.site, ignored }, 'event');
    }
    if (warnMisconfigured) {
      log.warn(
        { site: event.site, reason: ignored },
        `site ${event.site ?? '(no site in tag)'} logs ${ignored === 'cloudflare' ? 'Cloudflare edge' : 'trusted proxy'} addresses instead of the visitor's: ` +
          'make the web server take the client address from CF-Connecting-IP (nginx real_ip_header, Apache mod_remoteip), ' +
          'or list the proxies in WP_FAIL2BAN_PROXIES; such events are never banned',
      );
    }
    for (const order of orders) this.ledger.ban(order);
  }

  private onBanOutcome(what: LedgerOutcome, ban: EdgeBan, detail?: string, latencyMs?: number): void {
    this.banOutcomes.add(what);
    if (latencyMs !== undefined) this.metrics.banLatency.observe(latencyMs / 1000);
    const { log } = this.options;
    if (!log.isLevelEnabled(what === 'coalesced' ? 'debug' : 'info')) return; // spare the hashing
    const dry = this.backend.name === 'dry-run' ? ' (dry run: not sent to Cloudflare)' : '';
    const fields = { key: this.addressMask.show(ban.key), jail: ban.jail, action: ban.action, until: ban.until, location: ban.location, backend: this.backend.name };
    switch (what) {
      case 'banned':
      case 'unbanned':
      case 'extended':
      case 'adopted':
        return log.info(fields, `${what}${dry}`);
      case 'evicted':
        return log.warn(fields, 'the IP list is full: this ban, closest to expiry, left the list (cloudflare.listItemLimit)');
      case 'coalesced':
        return log.debug(fields, what);
      case 'retry':
        return log.warn({ ...fields, error: detail }, 'Cloudflare call failed; will retry');
      case 'foreign':
        return log.info({ ...fields, detail }, 'a rule edgeban did not make covers this address; left alone');
      case 'no_location':
        return log.warn(fields, 'no zone configured for this site: not banned (set cloudflare.zoneId or cloudflare.zones)');
      default:
        return log.warn({ ...fields, detail }, `ban ${what}`);
    }
  }
}

const OUTCOME_KEYS: Record<string, Record<string, string>> = {};

/** `transport:outcome`, built once per pair rather than once per frame. */
function outcomeKey(transport: Transport, outcome: IngestOutcome): string {
  const byOutcome = (OUTCOME_KEYS[transport] ??= {});
  return (byOutcome[outcome] ??= `${transport}:${outcome}`);
}

function limits(config: Config) {
  const { allowedSenders, maxMessageBytes, maxConnections, idleTimeout } = config.listen;
  return { allowedSenders, maxMessageBytes, maxConnections, idleTimeout };
}

function addresses(config: Config) {
  const { udp, tcp, tls, udpReceiveBuffer } = config.listen;
  return { udp, tcp, tls, udpReceiveBuffer };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
