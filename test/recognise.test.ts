import { viewOf } from '../src/common/bytes';
import { formatIp, parseIp } from '../src/address/ip';
import { StreamFramer } from '../src/ingest/framer';
import { parseSyslog } from '../src/syslog/parse';
import { Classified, classify, Template, TEMPLATES } from '../src/wordpress/catalogue';
import { recognise, SiteCache, siteFromTag } from '../src/wordpress/recognise';
import { AUTH_LOG, FORWARDED_3164, PROTOCOL_5424, Row } from './fixtures/reference-lines';
import { forwardFormat, octetCounted, protocol23, splitAuthLogLine } from './helpers/wire';

const NOW = Date.UTC(2025, 2, 10);

function recogniseLine(line: string | Buffer, allowMissingPri = false) {
  const parsed = parseSyslog(line, { now: NOW, allowMissingPri });
  if (!parsed.ok) throw new Error(`parse failed (${parsed.reason}): ${line}`);
  return recognise(parsed.message, 0);
}

function expectRow(result: ReturnType<typeof recognise>, [, kind, cls, address, site]: Row) {
  if (kind === null) {
    expect(result).toEqual({ ok: false, reason: address });
    return;
  }
  expect(result).toEqual({ ok: true, event: { kind, class: cls, ip: parseIp(address), site, at: 0 } });
}

/** Under 5424 the APP-NAME loses everything from `/` or `:`, so a sub-directory site is cut. */
function siteIn5424(row: Row): Row {
  const tag = splitAuthLogLine(row[0]).tag;
  return tag.includes('(') && row[4] ? [row[0], row[1], row[2], row[3], row[4].split('/')[0]] : row;
}

describe('every reference sample line', () => {
  test.each(AUTH_LOG)('auth.log: %s', (...row) => expectRow(recogniseLine(row[0], true), row));

  test.each(AUTH_LOG)('ForwardFormat datagram of: %s', (...row) => {
    expectRow(recogniseLine(forwardFormat(splitAuthLogLine(row[0]))), row);
  });

  test.each(AUTH_LOG)('octet-counted TCP frame of: %s', (...row) => {
    const frames: Buffer[] = [];
    const framer = new StreamFramer(8192, { frame: (f) => frames.push(Buffer.from(f)), problem: (p) => frames.push(Buffer.from(p)) });
    framer.push(octetCounted(forwardFormat(splitAuthLogLine(row[0]))));
    expect(frames).toHaveLength(1);
    expectRow(recogniseLine(frames[0]), row);
  });

  test.each(AUTH_LOG)('RFC 5424 (SyslogProtocol23Format) of: %s', (...row) => {
    expectRow(recogniseLine(protocol23(splitAuthLogLine(row[0]))), siteIn5424(row));
  });

  test.each(FORWARDED_3164)('as forwarded: %s', (...row) => expectRow(recogniseLine(row[0]), row));

  test.each(PROTOCOL_5424)('as RFC 5424: %s', (...row) => expectRow(recogniseLine(row[0].replace(/\\n$/, '\n')), row));
});

describe('tags', () => {
  test.each([
    ['wordpress(www.example.com)', 'www.example.com'],
    ['wp(Example.COM)', 'example.com'],
    ['wordpress(example.com/blog2)', 'example.com/blog2'],
    ['wordpress(example.com:8443)', 'example.com'],
    ['wordpress([2001:db8::1]:8080)', '[2001:db8::1]'],
    ['wordpress(www.a-really-long-subd', 'www.a-really-long-subd'],
    ['wordpress', null],
    ['wp', null],
    ['wordpress()', null],
  ])('%s gives site %s', (tag, site) => expect(siteFromTag(tag)).toBe(site));

  test.each(['wpa_supplicant', 'wordpress-cron', 'sshd', 'wpx(example.com)', 'WordPress(example.com)', ''])('%s is not a WP fail2ban tag', (tag) =>
    expect(siteFromTag(tag)).toBeUndefined(),
  );

  test('the site cache keeps a copy of the tag: bytes overwritten in place are read anew', () => {
    // Both tags fall in one slot of the cache; a Buffer's slice() is a view, not a copy.
    const cache = new SiteCache();
    const bytes = Buffer.from('wordpress(abc.example.org)');
    expect(cache.siteOfTag(bytes, viewOf(bytes), 0, bytes.length)).toBe('abc.example.org');
    bytes.write('wordpress(xyz.example.org)');
    expect(cache.siteOfTag(bytes, viewOf(bytes), 0, bytes.length)).toBe('xyz.example.org');
  });

  test('a non-WordPress line is rejected, not recognised', () => {
    expect(recogniseLine('<37>2025-03-09T06:31:00.1+00:00 web1 wpa_supplicant[12]: Authentication failure for x from 203.0.113.7')).toEqual({
      ok: false,
      reason: 'not_wordpress',
    });
  });
});

describe('addresses', () => {
  const line = (address: string) => `<37>2025-03-09T06:31:00.1+00:00 web1 wordpress(a.example)[1]: Authentication failure for x from ${address}`;
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['2001:DB8::A', '2001:db8::a'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
  ])('%s is normalised to %s', (raw, normal) => {
    const result = recogniseLine(line(raw));
    expect(result.ok && formatIp(result.event.ip)).toBe(normal);
  });

  test.each(['unknown', '203.0.113.256', '203.0.113', '0203.0.113.7', 'fe80::1%eth0', '2001:db8::g', 'example.com', '1.2.3.4.5'])(
    '%s is not an address',
    (raw) => {
      const result = recogniseLine(line(raw));
      expect(result.ok).toBe(false);
      expect(['address_unknown', 'address_invalid']).toContain(!result.ok && result.reason);
    },
  );

  test('a line with no " from " carries no address', () => {
    expect(recogniseLine('<37>2025-03-09T06:31:00.1+00:00 web1 wordpress(a.example)[1]: Authentication failure for x')).toEqual({
      ok: false,
      reason: 'no_address',
    });
  });

  test('an unknown text with a WP fail2ban tag is kept as unrecognized (class info)', () => {
    const result = recogniseLine(line('203.0.113.7').replace('Authentication failure for x', 'Something new'));
    expect(result).toMatchObject({ ok: true, event: { kind: 'unrecognized', class: 'info' } });
  });

  test('usernames never reach the event', () => {
    const result = recogniseLine(line('203.0.113.7').replace('for x', 'for SecretUserName'));
    expect(JSON.stringify(result)).not.toContain('SecretUserName');
  });
});

describe('template dispatch', () => {
  /** What classify must answer: the first template in catalogue order that the text matches. */
  function firstInOrder(text: string): Classified | null {
    const template = TEMPLATES.find((t) => text.startsWith(t.prefix) && restAllows(t.rest, text.slice(t.prefix.length)));
    if (template) return template;
    return text.length > '; Bogus Pingback'.length && text.endsWith('; Bogus Pingback') ? { kind: 'bogus_pingback', cls: 'hard' } : null;
  }

  function restAllows(rest: Template['rest'], text: string): boolean {
    if (rest === 'none') return text === '';
    if (rest === 'any') return text !== '';
    if (rest === 'number') return /^\d+$/.test(text);
    if (rest === 'number_then') return /^\d/.test(text);
    const bytes = Buffer.from(text);
    return rest(bytes, 0, bytes.length);
  }

  const tails = [
    '',
    'admin',
    '17',
    '17 generated',
    '4 on post 9 by "https://x.example/"',
    ' on post 3',
    "'DE'",
    "403 from country 'DE'",
    '2) matched request',
    '/wp-admin/)',
    'x',
  ];
  const heads = TEMPLATES.flatMap(({ prefix }) => [
    ...tails.map((tail) => prefix + tail),
    ...Array.from({ length: prefix.length }, (_, cut) => prefix.slice(0, cut)),
    ...Array.from({ length: prefix.length }, (_, at) => `${prefix.slice(0, at)}#${prefix.slice(at + 1)}admin`),
  ]);

  test(`classify answers as trying every template in order would, on ${heads.length} heads`, () => {
    for (const head of heads) expect([head, classify(Buffer.from(head))]).toEqual([head, firstInOrder(head)]);
  });

  test('classify reads only text[from, end)', () => {
    for (const head of heads) expect([head, classify(Buffer.from(`(x) ${head} from 203.0.113.7`), 4, head.length + 4)]).toEqual([head, firstInOrder(head)]);
  });
});
