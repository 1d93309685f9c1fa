import type { EdgeBan } from '../bans/backend';

const NOTES_PREFIX = 'edgeban ';

/** Exactly `edgeban until=<unix seconds> jail=<name>`: no username, no message text. */
export function formatNotes(ban: Pick<EdgeBan, 'until' | 'jail'>): string {
  return `${NOTES_PREFIX}until=${ban.until} jail=${ban.jail}`;
}

export function parseNotes(notes: string): { until: number; jail: string } | null {
  if (!notes.startsWith(NOTES_PREFIX)) return null;
  const match = /^edgeban until=(\d{1,12}) jail=([A-Za-z0-9_.-]{1,64})$/.exec(notes);
  return match ? { until: Number(match[1]), jail: match[2] } : null;
}

export function isOwnedNotes(notes: unknown): boolean {
  return typeof notes === 'string' && notes.startsWith(NOTES_PREFIX);
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
