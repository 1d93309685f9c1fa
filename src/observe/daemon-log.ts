import type { Ip } from '../address/ip';
import { formatIp } from '../address/ip';
import type { EdgeBan } from '../bans/backend';
import type { ShieldOutcome } from '../bans/shield-keeper';
import type { LedgerOutcome } from '../bans/ledger';
import type { RangesRefreshed } from '../cloudflare/ranges';
import type { BanOrder, IgnoreReason } from '../policy/policy';
import type { WpEvent } from '../wordpress/recognise';
import { formatHost, isLoopbackHost } from '../address/host-port';
import type { BoundAddress } from '../ingest/listeners';
import type { AddressMask, AddressMode, Logger } from './log';

/** `transport://host:port` of every listener, as the start-up log and /status show them. */
export function listening(bound: readonly BoundAddress[]): string[] {
  return bound.map((b) => `${b.transport}://${formatHost(b.host)}:${b.port}`);
}

/** A line that a flood could repeat is written at most this often; the next one says how many were held back. */
const THROTTLE_MS = 60_000;

/**
 * The daemon's words: every line it logs about events, bans and Cloudflare, in one place, each
 * address through the mask.
 */
export class DaemonLog {
  private readonly throttles = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly log: Logger,
    private readonly mask: AddressMask,
    private readonly backendName: string,
  ) {}

  listening(bound: readonly BoundAddress[], admin: string | null, adminExposed: boolean, addresses: AddressMode): void {
    if (addresses === 'plain') this.log.warn('privacy.logAddresses is "plain": visitor addresses will appear in the logs');
    const udpExposed = bound.filter((b) => b.transport === 'udp' && !isLoopbackHost(b.host));
    if (udpExposed.length) {
      this.log.warn(
        { udp: listening(udpExposed) },
        "UDP listens beyond loopback: a datagram's source address can be forged, so anyone who can reach the port can have any address banned; use UDP on loopback or a trusted segment only, TCP or mutual TLS across hosts",
      );
    }
    const slowUdp = bound.filter((b) => b.reader === 'node');
    if (slowUdp.length) {
      this.log.warn(
        { udp: listening(slowUdp) },
        "UDP is read through Node's dgram, one datagram at a time (EDGEBAN_UDP_READER=node, or the batch reader was not built at npm install: it needs Linux and a C compiler); past ~100,000 datagrams/s on two cores it loses datagrams",
      );
    }
    if (adminExposed) {
      this.log.warn({ admin }, 'the admin endpoint listens beyond loopback: keep it behind a firewall, and set admin.token');
    }
    this.log.info({ listening: listening(bound), admin, backend: this.backendName, pid: process.pid }, 'edgeban listening');
  }

  decodeThreadStopped(error: Error): void {
    this.log.error({ error: error.message }, 'the decode thread stopped; decoding on the main thread from now on');
  }

  udpThreadStopped(error: Error): void {
    this.log.error({ error: error.message }, 'a UDP listener thread stopped; restarting it in a second');
  }

  event(event: WpEvent, ignored: IgnoreReason | null): void {
    if (!this.log.isLevelEnabled('debug')) return; // spare the hashing
    this.log.debug({ kind: event.kind, class: event.class, address: this.address(event.ip), site: event.site, ignored }, 'event');
  }

  /** A site whose events carry an edge or proxy address: the WordPress host logs the wrong address. */
  misconfiguredSite(event: WpEvent, reason: IgnoreReason | null): void {
    const site = event.site ?? '(no site in tag)';
    const what = reason === 'cloudflare' ? 'Cloudflare edge' : 'trusted proxy';
    this.log.warn(
      { site: event.site, reason },
      `site ${site} logs ${what} addresses instead of the visitor's: ` +
        'make the web server take the client address from CF-Connecting-IP (nginx real_ip_header, Apache mod_remoteip), ' +
        'or list the proxies in WP_FAIL2BAN_PROXIES; such events are never banned',
    );
  }

  /** A ban whose configured prefix would have covered a never-banned address: said once a ban. */
  narrowed(order: BanOrder): void {
    this.log.info(
      { key: this.mask.show(order.key), jail: order.jail },
      'ban narrowed: the configured prefix would also cover a Cloudflare, proxy, allow-listed or reserved address',
    );
  }

  /** An address no prefix the backend takes can hold without a never-banned one. */
  unbannable(): void {
    this.throttled('unbannable', 1, (events) =>
      this.log.warn(
        { events },
        'not banned: the /64 of this IPv6 address holds a Cloudflare, proxy, allow-listed or reserved address, and IP lists take no single IPv6 address (use backend: access-rules, or narrow trust.allow and trust.proxies)',
      ),
    );
  }

  banOutcome(what: LedgerOutcome, ban: EdgeBan, unscrubbed?: string): void {
    if (!this.log.isLevelEnabled(what === 'coalesced' ? 'debug' : 'info')) return; // spare the hashing
    // Cloudflare's error texts may name the address: they go through the mask like any address
    const detail = unscrubbed === undefined ? undefined : this.mask.scrub(unscrubbed);
    const dry = this.backendName === 'dry-run' ? ' (dry run: not sent to Cloudflare)' : '';
    const fields = { key: this.mask.show(ban.key), jail: ban.jail, action: ban.action, until: ban.until, location: ban.location, backend: this.backendName };
    switch (what) {
      case 'banned':
      case 'unbanned':
      case 'extended':
      case 'adopted':
        return this.log.info(fields, `${what}${dry}`);
      case 'evicted':
        return this.log.warn(fields, 'the IP list is full: this ban, closest to expiry, left the list (cloudflare.listItemLimit)');
      case 'coalesced':
        return this.log.debug(fields, what);
      case 'folded':
        return this.log.info({ ...fields, network: detail }, 'folded into the ban of its network: lifted, the network holds it');
      case 'retry':
        return this.log.warn({ ...fields, error: detail }, 'Cloudflare call failed; will retry');
      case 'foreign':
        return this.log.info({ ...fields, detail }, 'a rule edgeban did not make covers this address; left alone');
      case 'no_location':
        return this.log.warn(fields, 'no zone configured for this site: not banned (set cloudflare.zoneId or cloudflare.zones)');
      default:
        return this.log.warn({ ...fields, detail }, `ban ${what}`);
    }
  }

  shieldOutcome(what: ShieldOutcome, zone: string, sites: string[], until: number, unscrubbed?: string): void {
    const detail = unscrubbed === undefined ? undefined : this.mask.scrub(unscrubbed);
    const dry = this.backendName === 'dry-run' ? ' (dry run: not sent to Cloudflare)' : '';
    const fields = { zone, sites, until, backend: this.backendName };
    switch (what) {
      case 'raised':
      case 'extended':
      case 'narrowed':
      case 'lifted':
      case 'adopted':
        return this.log.info(fields, `shield ${what}${dry}`);
      case 'no_zone':
        return this.throttled(`shield-zone:${sites[0]}`, 1, (times) =>
          this.log.warn({ ...fields, times }, 'no shield: no zone is configured for this site, or its name is no host name (cloudflare.zones)'),
        );
      case 'refused':
        return this.log.error(
          { ...fields, error: detail },
          'Cloudflare refused the shield rule (a Free plan allows five custom rules a zone; the token needs Zone → Zone WAF → Edit); tried again at the next sweep',
        );
      default:
        return this.log.warn({ ...fields, error: detail }, `shield ${what}`);
    }
  }

  apiWait(reason: 'budget' | 'rate_limited', ms: number): void {
    this.log.warn(
      { reason, waitMs: ms },
      reason === 'rate_limited' ? 'Cloudflare answered 429: pausing every call' : 'client-side request budget reached: waiting',
    );
  }

  rangesRefreshed(result: RangesRefreshed): void {
    if (result.ok) this.log.info({ ranges: result.fetched }, 'Cloudflare ranges refreshed from GET /ips');
    else
      this.log.warn(
        { error: this.mask.scrub(result.error) },
        `cannot refresh Cloudflare ranges; keeping the bundled list${result.keptFetched ? ' and the ranges fetched before' : ''}`,
      );
  }

  sharedLost(error: string): void {
    this.log.warn({ error: this.mask.scrub(error) }, 'shared state unreachable: counting in this receiver alone until it returns');
  }

  sharedJoined(): void {
    this.log.info('shared state reached: windows and bans are shared with the other receivers');
  }

  reconciled(adopted: number, expired: number): void {
    if (adopted || expired) this.log.info({ adopted, expired, backend: this.backendName }, 'reconciled with Cloudflare');
  }

  sweepFailed(error: string): void {
    this.log.error({ error: this.mask.scrub(error) }, 'cannot list the rules at Cloudflare; will try again at the next sweep');
  }

  operatorUnban(key: string, locations: number): void {
    this.log.info({ key: this.mask.show(key), locations }, 'unban asked through the admin endpoint');
  }

  /** Lines made the decoder throw: a bug in edgeban, never the sender's fault; the stack is for a bug report. */
  decodeFailed(failures: { error: string; count: number }): void {
    this.throttled('decode', failures.count, (lines) =>
      this.log.error(
        { lines, error: this.mask.scrub(failures.error) },
        'lines made the decoder throw (a bug in edgeban: please report it); they were dropped and counted as decode_failed',
      ),
    );
  }

  /**
   * A Cloudflare operation threw what only a bug throws: its stack once (per message, then at most
   * once a minute with how many were held back), for a bug report. The operation is not retried.
   */
  banBug(error: Error): void {
    this.throttled(`bug:${error.message}`, 1, (times) =>
      this.log.error(
        { times, error: this.mask.scrub(error.message), stack: this.mask.scrub(error.stack ?? '') },
        'a Cloudflare operation failed on a bug in edgeban (please report it); the ban was given up',
      ),
    );
  }

  /** A listening socket failed while running, such as EMFILE when the process is out of descriptors. */
  listenerError(transport: string, error: Error): void {
    this.throttled(`listen:${transport}:${error.message}`, 1, (times) =>
      this.log.error({ transport, error: this.mask.scrub(error.message), times }, 'a listener failed; it keeps listening'),
    );
  }

  /** Writes at once, or counts `count` as held back until THROTTLE_MS after the last line of this kind. */
  private throttled(kind: string, count: number, write: (count: number) => void): void {
    const now = Date.now();
    const last = this.throttles.get(kind);
    if (last && now - last.at < THROTTLE_MS) {
      last.held += count;
      return;
    }
    if (this.throttles.size > 100) this.throttles.clear(); // kinds named by error messages: bounded
    this.throttles.set(kind, { at: now, held: 0 });
    write(count + (last?.held ?? 0));
  }

  private address(ip: Ip): string {
    return this.mask.show(formatIp(ip));
  }
}
