import type { EdgeBan } from '../bans/backend';
import { ACTIONS, BanAction } from '../config/defaults';

const NOTES_PREFIX = 'edgeban ';

/** Exactly `edgeban until=<unix seconds> jail=<name>`: no username, no message text. */
export function formatNotes(ban: Pick<EdgeBan, 'until' | 'jail'>): string {
  return `${NOTES_PREFIX}until=${ban.until} jail=${ban.jail}`;
}

/** No ban edgeban made can end before its first release: a smaller `until` was written by someone else. */
const EARLIEST_UNTIL = Date.UTC(2025, 0, 1) / 1000;

/**
 * The notes of a rule or the comment of a list item, if edgeban wrote them: exactly its grammar,
 * nothing before or after, an `until` edgeban could have written. Anything else is someone else's.
 */
export function parseNotes(notes: unknown): { until: number; jail: string } | null {
  if (typeof notes !== 'string' || !notes.startsWith(NOTES_PREFIX)) return null;
  const match = /^edgeban until=([1-9]\d{9}) jail=([A-Za-z0-9_.-]{1,64})$/.exec(notes);
  if (!match || Number(match[1]) < EARLIEST_UNTIL) return null;
  return { until: Number(match[1]), jail: match[2] };
}

/** The modes edgeban bans with: a rule in any other mode (`whitelist`) is never edgeban's. */
const OWNED_MODES: ReadonlySet<string> = new Set<BanAction>(ACTIONS);

/** Whether a rule is edgeban's: its notes in edgeban's grammar and its mode one edgeban uses. */
export function ownedRule(rule: { notes?: unknown; mode?: unknown }): { until: number; jail: string; action: BanAction } | null {
  const notes = parseNotes(rule.notes);
  if (!notes || typeof rule.mode !== 'string' || !OWNED_MODES.has(rule.mode)) return null;
  return { ...notes, action: rule.mode as BanAction };
}

/**
 * The zone for a site by longest suffix match on its host (`www.example.com` and
 * `example.com/blog2` both match `example.com`), else the default zone.
 */
export function zoneForSite(site: string | null, zones: Record<string, string>, fallback: string | undefined): string | undefined {
  if (site) {
    const host = site.split('/')[0];
    let best: string | undefined;
    for (const suffix of Object.keys(zones)) {
      const name = suffix.toLowerCase();
      if ((host === name || host.endsWith(`.${name}`)) && (!best || name.length > best.length)) best = suffix;
    }
    if (best) return zones[best];
  }
  return fallback;
}
