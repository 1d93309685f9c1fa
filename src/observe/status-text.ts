/**
 * `edgeban status` for a person, as `fail2ban-client status` reads: the daemon's /status answer
 * as a few aligned lines, or one jail's.
 */
type Status = Record<string, unknown>;

export function statusText(status: Status, jail?: string): string {
  const jails = (status.jails ?? {}) as Record<string, Record<string, unknown>>;
  if (jail !== undefined) {
    const one = jails[jail];
    if (!one) return `no jail named ${jail} (jails: ${Object.keys(jails).join(', ') || 'none'})\n`;
    return lines([
      ['jail', jail],
      ['events', list(one.events)],
      ['bans after', `${one.maxretry} within ${duration(one.findtime)}, for ${duration(one.bantime)}, action ${one.action}`],
      ['active bans', one.activeBans],
    ]);
  }
  return lines([
    ['uptime', duration(status.uptimeSeconds)],
    ['backend', status.backend],
    ['listening', list(status.listening)],
    ['lines', status.lines],
    ['events', `${status.events} (${pairs(status.classes)})`],
    ['not counted', pairs(status.ignored) || 'none'],
    [
      'jails',
      Object.entries(jails)
        .map(([name, one]) => `${name}: ${one.activeBans} active`)
        .join(', ') || 'none',
    ],
    ['bans ordered', status.bansOrdered],
    ['active bans', status.activeBans],
    ['ban queue', status.queued],
    ['tracked keys', status.trackedKeys],
    ['API budget', budget(status.apiBudget)],
    ...sharedState(status.shared),
    ['Cloudflare answers', pairs(status.apiResponses) || 'none yet'],
    ...recentErrors(status.recentApiErrors),
  ]);
}

function sharedState(value: unknown): [string, string][] {
  if (!value) return [];
  const { up, counted } = value as { up: boolean; counted: Record<string, number> };
  const where = `${counted.shared ?? 0} hits counted there, ${counted.local ?? 0} here alone`;
  return [['shared state', `${up ? 'up' : 'unreachable: counting here alone'} (${where})`]];
}

function budget(value: unknown): string {
  if (!value) return 'no calls (dry run)';
  const { used, limit, cloudflareRemaining } = value as { used: number; limit: number; cloudflareRemaining: number | null };
  return `${used} of ${limit} calls in the last 5 minutes${cloudflareRemaining === null ? '' : ` (Cloudflare says ${cloudflareRemaining} left)`}`;
}

/** The last errors, newest first, each on its own line. */
function recentErrors(value: unknown): [string, unknown][] {
  const errors = Array.isArray(value) ? (value as { at: number; outcome: string; jail: string; error: string }[]) : [];
  return errors
    .slice()
    .reverse()
    .map((e, i) => [i === 0 ? 'recent API errors' : '', `${new Date(e.at * 1000).toISOString().slice(11, 19)} ${e.outcome} (${e.jail}): ${e.error}`]);
}

function lines(rows: [string, unknown][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  // an empty label continues the line above
  return rows.map(([label, value]) => `${(label ? `${label}:` : '').padEnd(width + 2)}${String(value ?? '-')}\n`).join('');
}

function list(value: unknown): string {
  return Array.isArray(value) ? value.join(', ') : String(value ?? '-');
}

function pairs(value: unknown): string {
  return Object.entries((value ?? {}) as Record<string, unknown>)
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');
}

/** Seconds as the config writes them: `1h`, `10m`, `90s`, `1d 2h`. */
export function duration(value: unknown): string {
  let seconds = Number(value);
  if (!Number.isFinite(seconds)) return '-';
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  if (seconds || parts.length === 0) parts.push(`${Math.round(seconds)}s`);
  return parts.join(' ');
}
