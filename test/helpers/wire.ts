/** Builds the wire forms rsyslog 8.2302 produces from a local auth.log line (its ForwardFormat, SyslogProtocol23Format and octet-counted TCP framing). */
export interface LocalLine {
  host: string;
  /** tag as PHP wrote it, e.g. `wordpress(www.example.com)[21301]:` */
  tag: string;
  text: string;
}

export function splitAuthLogLine(line: string): LocalLine {
  const match = /^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) (\S+) (.*)$/.exec(line);
  if (!match) throw new Error(`not an auth.log line: ${line}`);
  return { host: match[1], tag: match[2], text: match[3] };
}

const STAMP = '2025-03-09T06:31:00.412733+00:00';

/** RSYSLOG_ForwardFormat: RFC 3339 stamp in a 3164 header, tag cut to 32 characters. */
export function forwardFormat(line: LocalLine, pri = 37, stamp = STAMP): string {
  return `<${pri}>${stamp} ${line.host} ${line.tag.slice(0, 32)} ${line.text}`;
}

/** RSYSLOG_SyslogProtocol23Format: APP-NAME cut at `:`, `[` or `/`, double space, trailing LF. */
export function protocol23(line: LocalLine, pri = 37, stamp = STAMP): string {
  const cut = line.tag.search(/[:[/]/);
  const appName = cut < 0 ? line.tag : line.tag.slice(0, cut);
  const pid = /\[(\d+)\]/.exec(line.tag)?.[1] ?? '-';
  return `<${pri}>1 ${stamp} ${line.host} ${appName} ${pid} - -  ${line.text}\n`;
}

/** An RFC 6587 octet-counted frame. */
export function octetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
