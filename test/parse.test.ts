import fc from 'fast-check';
import { parseSyslog, SyslogScanner } from '../src/syslog/parse';

const NOW = Date.UTC(2025, 2, 10, 12);
const parse = (line: string, allowMissingPri = false) => parseSyslog(line, { now: NOW, allowMissingPri });

describe('parseSyslog', () => {
  test('RFC 3164 with RFC 3339 timestamp (RSYSLOG_ForwardFormat)', () => {
    expect(parse('<37>2025-03-09T06:31:00.412733+00:00 web1 wordpress(www.example.com)[23456]: hello there')).toEqual({
      ok: true,
      message: {
        facility: 4,
        severity: 5,
        timestamp: Date.UTC(2025, 2, 9, 6, 31, 0, 412),
        subSecond: true,
        hostname: 'web1',
        tag: 'wordpress(www.example.com)',
        procId: '23456',
        text: 'hello there',
      },
    });
  });

  test('BSD timestamp, space-padded day, no year', () => {
    const result = parse('<85>Mar  9 06:33:02 web1 wordpress[23461]: text');
    expect(result).toMatchObject({ ok: true, message: { timestamp: Date.UTC(2025, 2, 9, 6, 33, 2), subSecond: false, tag: 'wordpress', procId: '23461' } });
  });

  test('a BSD date in the future by more than a day belongs to last year', () => {
    const result = parse('<37>Dec 31 23:59:59 web1 wp: text');
    expect(result.ok && result.message.timestamp).toBe(Date.UTC(2024, 11, 31, 23, 59, 59));
  });

  test('BSD dates of this year and of last, one after the other, each keep their own year', () => {
    const stamps: [string, number][] = [
      ['Dec 31 23:59:59', Date.UTC(2024, 11, 31, 23, 59, 59)],
      ['Mar  9 06:33:02', Date.UTC(2025, 2, 9, 6, 33, 2)],
      ['Mar 12 00:00:00', Date.UTC(2024, 2, 12)],
      ['Dec 31 00:00:01', Date.UTC(2024, 11, 31, 0, 0, 1)],
      ['Jan  1 10:00:00', Date.UTC(2025, 0, 1, 10)],
      ['Mar  9 23:00:00', Date.UTC(2025, 2, 9, 23)],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [stamp, expected] of stamps) {
        const result = parse(`<37>${stamp} web1 wp: text`);
        expect([stamp, result.ok && result.message.timestamp]).toEqual([stamp, expected]);
      }
    }
  });

  test.each([
    ['Mar 9 06:33:02', Date.UTC(2025, 2, 9, 6, 33, 2)],
    ['Mar 09 06:33:02', Date.UTC(2025, 2, 9, 6, 33, 2)],
    ['Mar 10 06:33:02', Date.UTC(2025, 2, 10, 6, 33, 2)],
    ['Feb 28 23:59:60', Date.UTC(2025, 1, 28, 23, 59, 60)],
    ['Mar  9 06:33:02 2023', Date.UTC(2023, 2, 9, 6, 33, 2)],
    ['Mar 191 06:33:02', null],
    ['Mar 0 06:33:02', null],
    ['Mar 32 06:33:02', null],
    ['Mar 9x 06:33:02', null],
    ['Mar  9 24:33:02', null],
    ['Mar  9 06:60:02', null],
    ['Mar  9 06:33:61', null],
    ['Mar  9 6:33:02 ', null],
    ['Mar  9 06:3a:02', null],
    ['Mar  9 06-33:02', null],
    ['Mxr  9 06:33:02', null],
  ])('BSD timestamp %j → %p (null: not a timestamp, so the header has none)', (stamp, expected) => {
    const result = parse(`<37>${stamp} web1 wp: text`);
    if (expected === null) expect(result.ok && result.message.timestamp).toBeNull();
    else expect(result).toMatchObject({ ok: true, message: { timestamp: expected, tag: 'wp' } });
  });

  test('no hostname (local socket format)', () => {
    expect(parse('<37>Nov 21 20:17:39 wordpress(example.com)[1234]: text')).toMatchObject({
      ok: true,
      message: { hostname: null, tag: 'wordpress(example.com)', procId: '1234', text: 'text' },
    });
  });

  test('tag cut at 32 characters: no ] and no colon, or no pid at all', () => {
    expect(parse('<37>2025-03-09T06:31:00Z web1 wordpress(www.example.com)[23456 text')).toMatchObject({
      ok: true,
      message: { tag: 'wordpress(www.example.com)', procId: '23456', text: 'text' },
    });
    expect(parse('<37>2025-03-09T06:31:00Z web1 wordpress(www.a-really-long-subd text')).toMatchObject({
      ok: true,
      message: { tag: 'wordpress(www.a-really-long-subd', procId: null, text: 'text' },
    });
  });

  test('RFC 5424 with the double space and trailing LF of rsyslog', () => {
    expect(parse('<37>1 2025-03-09T06:32:00.100200+00:00 web1 wordpress(www.example.com) 23456 - -  text here\n')).toEqual({
      ok: true,
      message: {
        facility: 4,
        severity: 5,
        timestamp: Date.UTC(2025, 2, 9, 6, 32, 0, 100),
        subSecond: true,
        hostname: 'web1',
        tag: 'wordpress(www.example.com)',
        procId: '23456',
        text: 'text here',
      },
    });
  });

  test('RFC 5424 structured data with escapes, BOM, NIL fields, several spaces', () => {
    const line = '<14>1 2025-03-09T06:32:00Z  host  app - ID1 [ex@1 a="x\\"]y" b="\\\\"][meta n="1"] \uFEFFmsg';
    expect(parse(line)).toMatchObject({ ok: true, message: { tag: 'app', procId: null, text: 'msg', hostname: 'host' } });
    expect(parse('<14>1 - - app - - -')).toMatchObject({
      ok: true,
      message: { timestamp: null, subSecond: false, hostname: null, tag: 'app', procId: null, text: '' },
    });
  });

  test('#012 escapes and UTF-8 are kept as text', () => {
    expect(parse('<37>2025-03-09T06:31:00Z web1 wp(x)[1]: jöhn#012line2 from 203.0.113.7')).toMatchObject({
      ok: true,
      message: { text: 'jöhn#012line2 from 203.0.113.7' },
    });
  });

  test.each([
    ['', 'empty'],
    ['hello', 'no_pri'],
    ['<>x', 'bad_pri'],
    ['<192>x y: z', 'bad_pri'],
    ['<37>1 2025-13-09T06:32:00Z h a - - - m', 'bad_header'],
    ['<37>1 2025-03-09T06:32:00Z h a - - [unterminated', 'bad_header'],
    ['<37>1 2025-03-09T06:32:00Z h - - - - m', 'no_tag'],
  ])('rejects %j as %s', (line, reason) => expect(parse(line)).toEqual({ ok: false, reason }));

  test('auth.log lines need allowMissingPri', () => {
    expect(parse('Mar  9 06:25:01 web1 wordpress(x)[1]: t', true)).toMatchObject({ ok: true, message: { facility: 1, tag: 'wordpress(x)' } });
  });

  test('property: every BSD date reads as Date.UTC has it, one-digit days and two alike', () => {
    const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    fc.assert(
      fc.property(
        fc.integer({ min: 1970, max: 9999 }),
        fc.integer({ min: 0, max: 11 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 0, max: 86_399 }),
        (year, month, day, secondOfDay) => {
          const [h, m, s] = [Math.floor(secondOfDay / 3600), Math.floor(secondOfDay / 60) % 60, secondOfDay % 60];
          const time = [h, m, s].map((n) => String(n).padStart(2, '0')).join(':');
          const line = `<37>${MONTHS[month]} ${String(day).padStart(2, ' ')} ${time} ${year} web1 wp: text`;
          expect(parse(line)).toMatchObject({ ok: true, message: { timestamp: Date.UTC(year, month, day, h, m, s) } });
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('one scanner reads a log across days, months and years (its compiled code takes the same way for each)', () => {
    const scanner = new SyslogScanner();
    const read = (line: string) => {
      const bytes = Buffer.from(line);
      expect(scanner.scan(bytes, 0, bytes.length, NOW, true)).toBeNull();
      return scanner.timestamp;
    };
    for (let day = 0; day < 800; day++) {
      const at = Date.UTC(2023, 11, 25, 23, 59, 59) + day * 86_400_000;
      const date = new Date(at);
      const month = date.toUTCString().slice(8, 11);
      expect(read(`${month} ${String(date.getUTCDate()).padStart(2, ' ')} 23:59:59 ${date.getUTCFullYear()} web1 wp: t`)).toBe(at);
      expect(read(`${date.toISOString()} web1 wp: t`)).toBe(at);
    }
  });

  test('property: arbitrary text never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.boolean(), (text, loose) => {
        parse(text, loose);
        parse(`<37>${text}`, loose);
        parse(`<37>1 ${text}`, loose);
        parse(`<37>2025-03-09T06:31:00Z ${text}`, loose);
      }),
      { numRuns: 3000 },
    );
  });

  test('property: arbitrary bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => void parse(Buffer.from(bytes).toString('latin1'))),
      { numRuns: 2000 },
    );
  });

  test('property: a valid 3164 message round-trips', () => {
    const word = fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom(...'abcxyz0189.-'.split('')) });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 191 }),
        word,
        word,
        fc.string({ maxLength: 80, unit: fc.constantFrom(...'ab cd:[]()'.split('')) }),
        (pri, host, app, text) => {
          const result = parse(`<${pri}>2025-03-09T06:31:00.5Z ${host} ${app}(site)[42]: ${text}`);
          expect(result).toMatchObject({
            ok: true,
            message: { facility: pri >> 3, severity: pri & 7, hostname: host, tag: `${app}(site)`, procId: '42', text: text.trim() },
          });
        },
      ),
    );
  });
});

describe('RFC 3339 timestamps (as the 5424 TIMESTAMP and in 3164 headers)', () => {
  test.each([
    ['2025-03-09T06:31:00Z', Date.UTC(2025, 2, 9, 6, 31), false],
    ['2025-03-09T06:31:00.5+01:00', Date.UTC(2025, 2, 9, 5, 31, 0, 500), true],
    ['2025-03-09T06:31:00.123456789-02:30', Date.UTC(2025, 2, 9, 9, 1, 0, 123), true],
  ])('%s', (text, timestamp, subSecond) => {
    expect(parse(`<37>1 ${text} h app - - - m`)).toMatchObject({ ok: true, message: { timestamp, subSecond } });
    expect(parse(`<37>${text} h app: m`)).toMatchObject({ ok: true, message: { timestamp, subSecond } });
  });

  test.each(['2025-03-09T06:31:00', '2025-03-09T06:31:00.Z', '2025-03-09T25:31:00Z', '2025-03-09T06:31:00+0100', '2025-03-09 06:31:00Z'])(
    'rejects %s',
    (text) => expect(parse(`<37>1 ${text} h app - - - m`)).toEqual({ ok: false, reason: 'bad_header' }),
  );
});

describe('SyslogScanner keeps its state to itself', () => {
  const bsd = Buffer.from('<37>Mar  9 06:31:00 web1 wordpress(a.example)[1]: Authentication failure for x from 203.0.113.7');
  const rfc = Buffer.from('<37>1 2025-03-09T06:31:00.412733+00:00 web1 wordpress - - - Blocked user enumeration attempt from 2001:db8::7');
  const now = Date.UTC(2025, 2, 9, 12);

  test('two scanners interleaved answer as each alone: one scan does not overwrite the other', () => {
    const first = new SyslogScanner();
    const second = new SyslogScanner();
    expect(first.scan(bsd, 0, bsd.length, now, false)).toBeNull();
    expect(second.scan(rfc, 0, rfc.length, now, false)).toBeNull();
    expect([first.timestamp, first.subSecond, first.hostStart]).toEqual([Date.UTC(2025, 2, 9, 6, 31), false, 20]);
    expect([second.timestamp, second.subSecond]).toEqual([Date.UTC(2025, 2, 9, 6, 31, 0, 412), true]);
    expect(bsd.toString('utf8', first.tagStart, first.tagEnd)).toBe('wordpress(a.example)');
    expect(rfc.toString('utf8', second.tagStart, second.tagEnd)).toBe('wordpress');
  });
});
