import { readFileSync } from 'node:fs';
import { CidrSet } from './address/cidr';
import type { Config } from './config/schema';
import { Frame, Ingest, IngestOutcome, Transport } from './ingest/listeners';
import { AddressMask, Logger } from './observe/log';
import { createPolicy, Pipeline, Tally } from './pipeline';
import type { BanOrder } from './policy/policy';

const PURGE_INTERVAL_MS = 60_000;

/** Where ban orders go. The Cloudflare backends implement it; without a token, the dry run does. */
export interface BanSink {
  ban(order: BanOrder): void;
  stop(): Promise<void>;
}

/** Logs and counts what it would send. */
export class DryRunSink implements BanSink {
  readonly orders: BanOrder[] = [];

  constructor(
    private readonly log: Logger,
    private readonly mask: AddressMask,
  ) {}

  ban(order: BanOrder): void {
    this.log.info(
      { key: this.mask.show(order.key), jail: order.jail, action: order.action, until: order.until, site: order.site },
      'ban (dry run: not sent to Cloudflare)',
    );
  }

  async stop(): Promise<void> {}
}

export interface DaemonOptions {
  config: Config;
  log: Logger;
  sink?: BanSink;
}

/** Wires ingest → pipeline → ban sink, and owns start and stop. */
export class Daemon {
  readonly ingestOutcomes = new Tally();
  readonly pipeline: Pipeline;
  readonly mask: AddressMask;
  readonly sink: BanSink;
  private readonly ingest: Ingest;
  private purgeTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: DaemonOptions) {
    const { config, log } = options;
    this.mask = new AddressMask(config.privacy.logAddresses);
    this.pipeline = new Pipeline(createPolicy(config), 'arrival');
    this.sink = options.sink ?? new DryRunSink(log, this.mask);
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
      { frame: (frame) => this.onFrame(frame), outcome: (transport, outcome) => this.onOutcome(transport, outcome) },
    );
  }

  get bound() {
    return this.ingest.bound;
  }

  async start(): Promise<void> {
    const { log, config } = this.options;
    await this.ingest.start();
    this.purgeTimer = setInterval(() => this.pipeline.purgeStale(Date.now()), PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
    if (config.privacy.logAddresses === 'plain') {
      log.warn('privacy.logAddresses is "plain": visitor addresses will appear in the logs');
    }
    log.info({ listening: this.ingest.bound.map((b) => `${b.transport}://${formatHost(b.host)}:${b.port}`) }, 'edgeban listening');
  }

  async stop(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    await this.ingest.stop();
    await this.sink.stop();
  }

  private onOutcome(transport: Transport, outcome: IngestOutcome): void {
    this.ingestOutcomes.add(`${transport}:${outcome}`);
  }

  private onFrame(frame: Frame): void {
    const outcome = this.pipeline.handle(frame.bytes.toString('utf8'), frame.receivedAt);
    if (outcome.type !== 'event') return;
    const { event, ignored, orders, warnMisconfigured } = outcome;
    const { log } = this.options;
    if (log.isLevelEnabled('debug')) {
      log.debug({ kind: event.kind, class: event.class, address: this.mask.show(event.address), site: event.site, ignored }, 'event');
    }
    if (warnMisconfigured) {
      log.warn(
        { site: event.site, reason: ignored },
        `site ${event.site ?? '(no site in tag)'} logs ${ignored === 'cloudflare' ? 'Cloudflare edge' : 'trusted proxy'} addresses instead of the visitor's: ` +
          'make the web server take the client address from CF-Connecting-IP (nginx real_ip_header, Apache mod_remoteip), ' +
          'or list the proxies in WP_FAIL2BAN_PROXIES; such events are never banned',
      );
    }
    for (const order of orders) this.sink.ban(order);
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
