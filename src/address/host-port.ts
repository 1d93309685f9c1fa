/** `host:port`, IPv6 in brackets (`[::1]:5514`), as listen addresses are written. */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new Error(`"${text}" is not host:port (IPv6 as [::1]:port)`);
  return { host: match[1] ?? match[2], port };
}

/** Whether a listen host is reachable from this machine only: loopback or localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether a host parseHostPort gave is an IPv6 address: only those hold a colon. Node's
 * `net.isIPv6` compiles its large pattern at the first call, some milliseconds of the start.
 */
export function isIpv6Host(host: string): boolean {
  return host.includes(':');
}

/** A host as it stands before `:port`: IPv6 in brackets. */
export function formatHost(host: string): string {
  return isIpv6Host(host) ? `[${host}]` : host;
}
