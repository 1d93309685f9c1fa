import { formatHost, parseHostPort } from './address/host-port';
import type { Backend } from './bans/backend';
import { Ledger } from './bans/ledger';
import { ShieldKeeper } from './bans/shield-keeper';
import { ConfigError, describeError } from './common/errors';
import { createBackend } from './cloudflare/factory';
import { CloudflareRanges, RangesRefreshed } from './cloudflare/ranges';
import { planReload } from './config/reload';
import type { Config } from './config/schema';
import { Decoded, Decoder } from './decode/decoder';
import { DecodeRouter } from './decode/router';
import { Ingest } from './ingest/listeners';
import type { SpareUdpWorker } from './ingest/udp-thread';
import { ingestLimits, ingestOptions } from './ingest/options';
import { AdminServer } from './observe/admin';
import { DaemonLog } from './observe/daemon-log';
import { DaemonView } from './observe/daemon-view';
import { AddressMask, Logger } from './observe/log';
import { createEscalation, createWidener, Pipeline, policyOptions } from './policy/pipeline';
import { BanOrder, Policy } from './policy/policy';
import { SharedCounting } from './cluster/shared-counting';
import { SharedWindows } from './cluster/shared-windows';

const PURGE_INTERVAL_MS = 60_000;
const PURGE_SLICE_MS = 250;
/** On SIGTERM, queued bans get this long to reach Cloudflare. */
export const STOP_GRACE_MS = 5_000;

export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** tests inject a backend; by default it follows the config (dry run without a token) */
  backend?: Backend;
  /** what only a change of config mends was refused (a plan's list or rule limit, a shared server that writes to disk): the daemon cannot do its job */
  refused?: (error: ConfigError) => void;
  /** a UDP listener thread booted while the config loaded (cli.ts) */
  spareUdp?: SpareUdpWorker;
}

/** Wires ingest → decode → policy → ledger → backend, and owns start, reload and stop. */
export class Daemon {
  readonly pipeline: Pipeline;
  readonly ledger: Ledger;
  readonly backend: Backend;
  readonly view: DaemonView;
  /** the windows shared with other receivers through Valkey or Redis; null without `shared` */
  readonly shared: SharedCounting | null;
  /** the site shields; null without `shield` */
  readonly shields: ShieldKeeper | null;
  admin: AdminServer | null = null;
  /** the reconciliation made at start (tests wait for it) */
  startupSweep: Promise<void> = Promise.resolve();
  private config: Config;
  private readonly mask: AddressMask;
  private readonly ranges: CloudflareRanges;
  private readonly router: DecodeRouter;
  private readonly ingest: Ingest;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly options: DaemonOptions) {
    const { config, log } = options;
    this.config = config;
    this.mask = new AddressMask(config.privacy.logAddresses);
    this.ranges = new CloudflareRanges(config.cloudflare.apiBase, (result) => this.onRangesRefreshed(result));
    const policy = new Policy(policyOptions(config, this.ranges.current()));
    this.pipeline = new Pipeline(policy, new Decoder('arrival'), createEscalation(config, policy));
    this.backend =
      options.backend ??
      createBackend(config, { onResponse: (status) => this.view.apiResponses.add(String(status)), onWait: (why, ms) => this.words.apiWait(why, ms) });
    const parts = {
      pipeline: () => this.pipeline,
      ledger: () => this.ledger,
      decodedIn: () => this.router.decodedIn,
      bound: () => this.ingest.bound,
      budget: () => this.backend.budget?.() ?? null,
      shared: () => this.shared,
      shields: () => this.shields,
    };
    this.view = new DaemonView(log, this.mask, this.backend.name, parts);
    this.ledger = new Ledger({
      backend: this.backend,
      events: {
        outcome: (...outcome) => this.view.banOutcome(...outcome),
        gaveUp: (ban) => (this.pipeline.policy.release(ban.key, ban.jail), this.shared?.release(ban.jail, ban.key)),
        bug: (error) => (this.view.banOutcomes.add('bug'), this.words.banBug(error)),
      },
    });
    this.shared = config.shared ? this.sharedCounting(config.shared) : null;
    const shieldBackend = this.backend.shields;
    this.shields =
      config.shield && shieldBackend
        ? new ShieldKeeper({ backend: shieldBackend, events: { outcome: (...outcome) => this.view.shieldOutcome(...outcome) } })
        : null;
    this.router = new DecodeRouter(this.pipeline.decoder, {
      decoded: (decoded) => this.onDecoded(decoded),
      pause: () => this.ingest.pauseStreams(),
      resume: () => this.ingest.resumeStreams(),
      crashed: (error) => this.words.decodeThreadStopped(error),
      failed: (failures) => this.words.decodeFailed(failures),
      lookAhead: (numbers, from, to) => this.pipeline.policy.prefetch(numbers, from, to),
    });
    this.ingest = new Ingest(
      ingestOptions(config),
      {
        frames: (batch) => this.router.route(batch),
        datagrams: (frames) => this.router.decodeNow(frames),
        outcome: (transport, outcome, count) => this.view.ingestOutcomes.addPair(transport, outcome, count),
        listenerCrashed: (error) => this.words.udpThreadStopped(error),
        listenerError: (transport, error) => this.words.listenerError(transport, error),
      },
      options.spareUdp,
    );
  }

  get bound() {
    return this.ingest.bound;
  }

  get decodedIn() {
    return this.router.decodedIn;
  }

  /** the GET /ips under way with `cloudflareRanges: refresh` (tests wait for it) */
  get rangesRefresh(): Promise<void> {
    return this.ranges.pending;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    await this.startOrUndo(this.shared?.windows.start() ?? Promise.resolve(), async () => (await this.shared?.windows.stop(), await this.router.stop()));
    await this.startOrUndo(this.ingest.start(), () => this.router.stop());
    if (config.admin.enabled) {
      this.admin = new AdminServer(config.admin.listen, config.admin.token, this.view, config.admin.hostNames);
      await this.startOrUndo(this.admin.start(), async () => (await this.ingest.stop(), await this.router.stop()), `admin endpoint ${config.admin.listen}`);
    }
    // a slice of the window every quarter second: each key is looked at once a minute, never all at once
    this.every(PURGE_SLICE_MS, () => this.pipeline.purgeStale(Date.now(), PURGE_SLICE_MS / PURGE_INTERVAL_MS));
    this.every(config.cloudflare.sweepInterval * 1000, () => void this.sweep());
    this.ranges.follow(config.trust.cloudflareRanges);
    const admin = this.admin ? `http://${formatHost(parseHostPort(config.admin.listen).host)}:${this.admin.port}` : null;
    this.words.listening(this.ingest.bound, admin, this.admin?.exposed ?? false, config.privacy.logAddresses);
    // The decode thread boots after the listening line and is not waited for: its boot (a V8
    // isolate, a tenth of a second of a core) took a core from the start's own work on two cores.
    // Frames that came before this line were decoded here; those that come while it boots wait in its queue.
    void this.router.start();
    this.startupSweep = this.sweep();
    // after the listening line: metrics are for the minutes to come, not for the start
    setImmediate(() => this.view.startMetrics());
  }

  /** Stops listening; queued bans get `graceMs` to go out; bans are not lifted. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.ranges.stop();
    await this.ingest.stop();
    await this.router.stop();
    await this.admin?.stop();
    this.shields?.stop();
    await this.ledger.stop(graceMs);
    await this.shared?.windows.stop();
  }

  /** Adopts live edgeban rules and deletes expired ones; at start, then every few minutes. */
  async sweep(): Promise<void> {
    if (this.config.shield) this.shields?.sweep(this.config.shield.action);
    try {
      const { adopted, expired } = await this.ledger.reconcile();
      this.words.reconciled(adopted, expired);
    } catch (error) {
      this.words.sweepFailed(describeError(error));
      if (error instanceof ConfigError) this.options.refused?.(error);
    }
  }

  /** SIGHUP: applies what can change while running, keeping windows where the jails allow it, counters, bans and fetched ranges. */
  reload(next: Config): { applied: string[]; needsRestart: string[] } {
    const { applied, needsRestart, running, policyChanged } = planReload(this.config, next);
    if (policyChanged && !this.pipeline.policy.reconfigure(policyOptions(running, this.ranges.current()))) {
      applied.push('(windows restarted: jail names, maxretry or prefixes changed)');
    }
    if (applied.includes('widen')) this.pipeline.escalation.widen = createWidener(running, this.pipeline.policy);
    this.mask.mode = running.privacy.logAddresses;
    this.ingest.updateLimits(ingestLimits(running));
    this.ranges.follow(running.trust.cloudflareRanges);
    this.config = running;
    return { applied, needsRestart };
  }

  private async startOrUndo(starting: Promise<unknown>, undo: () => Promise<unknown>, what?: string): Promise<void> {
    try {
      await starting;
    } catch (error) {
      await undo();
      throw what ? new Error(`${what}: ${describeError(error)}`) : error;
    }
  }

  private get words(): DaemonLog {
    return this.view.words;
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private onRangesRefreshed(result: RangesRefreshed): void {
    if (result.ok) this.pipeline.policy.setCloudflareRanges(this.ranges.current());
    this.words.rangesRefreshed(result);
  }

  private onDecoded(decoded: Decoded): void {
    const outcome = this.pipeline.account(decoded);
    if (outcome.type !== 'event') return;
    this.words.event(outcome.event, outcome.ignored);
    this.view.history.event(outcome.event.site, outcome.event.class, outcome.event.at);
    if (outcome.warnMisconfigured) this.words.misconfiguredSite(outcome.event, outcome.ignored);
    if (outcome.ignored === 'unbannable') this.words.unbannable();
    if (outcome.shield) this.shields?.raise(outcome.shield);
    if (outcome.ignored || !this.shared?.take(outcome.event, outcome.orders)) for (const order of outcome.orders) this.order(order);
  }

  private order(order: BanOrder): void {
    if (order.narrowed) this.words.narrowed(order);
    this.ledger.ban(order);
  }

  private sharedCounting(config: NonNullable<Config['shared']>): SharedCounting {
    const windows = new SharedWindows(config, {
      lost: (error) => this.words.sharedLost(error),
      joined: () => this.words.sharedJoined(),
      refused: (error) => this.options.refused?.(error),
    });
    return new SharedCounting(
      windows,
      () => this.pipeline.policy,
      (order) => this.order(order),
      (order, ip) => this.pipeline.widen([order], ip),
    );
  }
}
