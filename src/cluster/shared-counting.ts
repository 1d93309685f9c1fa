import type { Ip } from '../address/ip';
import { Tally } from '../common/tally';
import type { BanOrder, Policy } from '../policy/policy';
import type { WpEvent } from '../wordpress/recognise';
import { SharedWindows } from './shared-windows';

/**
 * The policy's decisions, with the windows shared across receivers while the server answers.
 * The local policy still sees every event (its windows stay warm for the moment the server goes),
 * but while the server is up the shared window decides: its verdict orders the ban, once across
 * receivers. When a hit cannot be counted there, the local decision stands.
 */
export class SharedCounting {
  /** hits by where they were counted: `shared`, or `local` (the server did not answer) */
  readonly counted = new Tally();

  constructor(
    readonly windows: SharedWindows,
    private readonly policy: () => Policy,
    private readonly order: (order: BanOrder) => void,
    /** what a verdict of the shared window orders for a key the local window did not ban: its network's ban, when crowded */
    private readonly widen: (order: BanOrder, ip: Ip) => readonly BanOrder[],
  ) {}

  get up(): boolean {
    return this.windows.up;
  }

  /**
   * Takes an event the policy counted (not ignored), with the orders its local windows gave.
   * Returns false when the server is down: the caller orders the local decision itself.
   */
  take(event: WpEvent, local: readonly BanOrder[]): boolean {
    if (!this.windows.up) return false;
    const policy = this.policy();
    const key = policy.keyOf(event.ip);
    if (key === null) return false;
    for (const { name, config } of policy.countingJails(event)) {
      const ordered = local.find((order) => order.jail === name);
      const hit = { jail: name, key, at: event.at, findtime: config.findtime, maxretry: config.maxretry, bantime: config.bantime };
      this.windows.hit(hit).then(
        (verdict) => {
          this.counted.add('shared');
          if (verdict !== 'ban') return;
          if (ordered) return this.order(ordered);
          const fresh = policy.orderFor(name, event);
          for (const order of fresh ? this.widen(fresh, event.ip) : []) this.order(order);
        },
        () => {
          this.counted.add('local');
          if (ordered) this.order(ordered);
        },
      );
    }
    return true;
  }

  /** Forgets a jail's ban of a key everywhere (it never reached Cloudflare): the next attack orders it again. */
  release(jail: string, key: string): void {
    void this.windows.release(jail, key);
  }

  /** An operator's unban: every jail's window and ban of the key. */
  forget(key: string): void {
    for (const name of Object.keys(this.policy().jailConfigs)) void this.windows.release(name, key);
  }
}
