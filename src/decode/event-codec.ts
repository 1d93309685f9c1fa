import { Ip, ipv4, ipv6 } from '../address/ip';
import { EVENT_CLASSES, EVENT_KINDS, EventClass, EventKind } from '../wordpress/catalogue';
import type { WpEvent } from '../wordpress/recognise';
import { Decoded, LINE_REJECTIONS, LineRejection, RepeatKey } from './decoder';

/**
 * How a decoded event crosses between threads: a row of numbers in a Float64Array, so a batch's
 * events travel as one transferred buffer instead of thousands of cloned objects. The layout is
 * written here only; `packEvent` and `unpackEvent` are its two halves, and a new field is one
 * entry in FIELD plus a line in each.
 *
 * Row layout (EVENT_STRIDE numbers):
 *   AT      the event's time, unix ms
 *   KIND    index in EVENT_KINDS
 *   CLASS   index in EVENT_CLASSES
 *   SITE    the site's number in the batch's sites table (SiteNumbers), -1 for none
 *   FAMILY  4 or 6
 *   ADDRESS four numbers: IPv4 in the first; IPv6 as four 32-bit words, high group first
 */
const FIELD = { AT: 0, KIND: 1, CLASS: 2, SITE: 3, FAMILY: 4, ADDRESS: 5 } as const;
const ADDRESS_WORDS = 4;
export const EVENT_STRIDE = FIELD.ADDRESS + ADDRESS_WORDS;

const CLASS_INDEX: ReadonlyMap<EventClass, number> = new Map(EVENT_CLASSES.map((cls, index) => [cls, index]));
const KIND_INDEX: ReadonlyMap<EventKind, number> = new Map(EVENT_KINDS.map((kind, index) => [kind, index]));

/** Why a line is no event, as one byte: its place in LINE_REJECTIONS, plus one (0 is "an event"). */
const REJECTION_CODE: ReadonlyMap<LineRejection, number> = new Map(LINE_REJECTIONS.map((reason, index) => [reason, index + 1]));

export function rejectionCode(reason: LineRejection): number {
  return REJECTION_CODE.get(reason)!;
}

/** The reason a non-zero code stands for. */
export function rejectionOfCode(code: number): LineRejection {
  return LINE_REJECTIONS[code - 1];
}

/** Writes `event` into `numbers` at row offset `at`; `site` is its number in the sites table. */
export function packEvent(numbers: Float64Array, at: number, event: WpEvent, site: number): void {
  const { ip } = event;
  numbers[at + FIELD.AT] = event.at;
  numbers[at + FIELD.KIND] = KIND_INDEX.get(event.kind)!;
  numbers[at + FIELD.CLASS] = CLASS_INDEX.get(event.class)!;
  numbers[at + FIELD.SITE] = site;
  numbers[at + FIELD.FAMILY] = ip.family;
  const address = at + FIELD.ADDRESS;
  // an IPv4 row clears the words it leaves unused: the row may be written over an earlier one's
  if (ip.family === 4) {
    numbers[address] = ip.v4;
    for (let w = 1; w < ADDRESS_WORDS; w++) numbers[address + w] = 0;
  } else {
    for (let w = 0; w < ADDRESS_WORDS; w++) numbers[address + w] = ip.v6[w * 2] * 65536 + ip.v6[w * 2 + 1];
  }
}

/** The event of the row at offset `at`; `sites` is this side's sites table. */
export function unpackEvent(numbers: Float64Array, at: number, sites: readonly string[]): WpEvent {
  const address = at + FIELD.ADDRESS;
  const ip: Ip = numbers[at + FIELD.FAMILY] === 4 ? ipv4(numbers[address]) : ipv6(groupsOf(numbers, address));
  const site = numbers[at + FIELD.SITE];
  return {
    kind: EVENT_KINDS[numbers[at + FIELD.KIND]],
    class: EVENT_CLASSES[numbers[at + FIELD.CLASS]],
    ip,
    site: site < 0 ? null : sites[site],
    at: numbers[at + FIELD.AT],
  };
}

/**
 * The events of rows unpacked again and again into the same objects, for a reader that keeps
 * nothing of an event once it has returned: replay's million events, their addresses and their
 * wrappers were a third of what its main thread allocated, all of it garbage at once.
 */
export class ReusedEvent {
  /** made as every address is (see ipv4), then written in place */
  private readonly v4 = ipv4(0) as { family: 4; v4: number };
  private readonly v6 = ipv6(new Array<number>(8).fill(0)) as { family: 6; v6: number[] };
  private readonly event: WpEvent = { kind: EVENT_KINDS[0], class: EVENT_CLASSES[0], ip: this.v4, site: null, at: 0 };
  private readonly decoded: { type: 'event'; event: WpEvent; repeat: RepeatKey | undefined } = { type: 'event', event: this.event, repeat: undefined };

  /** The event of the row at offset `at` as unpackEvent makes it, in this one's objects. */
  unpack(numbers: Float64Array, at: number, sites: readonly string[], repeat: RepeatKey | undefined): Decoded {
    const address = at + FIELD.ADDRESS;
    const event = this.event;
    if (numbers[at + FIELD.FAMILY] === 4) {
      this.v4.v4 = numbers[address];
      event.ip = this.v4;
    } else {
      fillGroups(this.v6.v6, numbers, address);
      event.ip = this.v6;
    }
    const site = numbers[at + FIELD.SITE];
    event.kind = EVENT_KINDS[numbers[at + FIELD.KIND]];
    event.class = EVENT_CLASSES[numbers[at + FIELD.CLASS]];
    event.site = site < 0 ? null : sites[site];
    event.at = numbers[at + FIELD.AT];
    this.decoded.repeat = repeat;
    return this.decoded;
  }
}

/** The family (4 or 6) of the event in the row at offset `at`, read without making the event. */
export function familyAt(numbers: Float64Array, at: number): number {
  return numbers[at + FIELD.FAMILY];
}

/** The address's `word`th 32-bit word (an IPv4 address is word 0), read without making the event. */
export function addressWordAt(numbers: Float64Array, at: number, word: number): number {
  return numbers[at + FIELD.ADDRESS + word];
}

/** Eight 16-bit groups from four 32-bit words. */
function groupsOf(numbers: Float64Array, from: number): number[] {
  return fillGroups(new Array<number>(8), numbers, from);
}

function fillGroups(groups: number[], numbers: Float64Array, from: number): number[] {
  for (let w = 0; w < ADDRESS_WORDS; w++) {
    groups[w * 2] = Math.floor(numbers[from + w] / 65536);
    groups[w * 2 + 1] = numbers[from + w] % 65536;
  }
  return groups;
}

/**
 * The sending side's half of the sites table; bounded, as sites come from the wire. The receiving
 * side keeps a plain list: `newSites` are appended to it, after emptying it when `sitesReset`.
 */
export class SiteNumbers {
  private readonly numbers = new Map<string, number>();
  private added: string[] = [];
  private reset = false;

  constructor(private readonly max = 10_000) {}

  numberOf(site: string | null): number {
    if (site === null) return -1;
    let number = this.numbers.get(site);
    if (number === undefined) {
      number = this.numbers.size;
      this.numbers.set(site, number);
      this.added.push(site);
    }
    return number;
  }

  /**
   * What the batch answered now tells the other side. A full table is emptied between batches
   * (never within one, whose numbers must stay good), and the next batch says so.
   */
  take(): { newSites: string[]; sitesReset: boolean } {
    const news = { newSites: this.added, sitesReset: this.reset };
    this.added = [];
    this.reset = this.numbers.size >= this.max;
    if (this.reset) this.numbers.clear();
    return news;
  }
}

/** The receiving side: applies a batch's news to its sites table. */
export function applySites(sites: string[], news: { newSites: readonly string[]; sitesReset: boolean }): void {
  if (news.sitesReset) sites.length = 0;
  for (const site of news.newSites) sites.push(site);
}
