import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHost, isLoopbackHost, parseHostPort } from '../address/host-port';
import { LIVE_PAGE } from './page';

export interface AdminBan {
  key: string;
  jail: string;
  action: string;
  until: number;
  location: string;
}

/** What the admin endpoint may ask of the daemon. */
export interface AdminTarget {
  metricsText(): Promise<string>;
  status(): Record<string, unknown>;
  /** what the live page draws: counts, jails and sites, never an address */
  dashboard(): Record<string, unknown>;
  bans(): AdminBan[];
  /** Lifts every ban covering this address; returns the keys lifted, or null for a bad address. */
  unban(address: string): string[] | null;
  /** How to show an address to a caller without the token. */
  mask(address: string): string;
}

const MAX_BODY = 4096;

class BodyTooLarge extends Error {}

/** Host names every admin endpoint answers to, besides its listen address and the configured names. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * /healthz, /metrics and /status read no addresses and need no token. /bans shows addresses
 * pseudonymised, or plain with the admin token; POST /unban changes state and needs the token.
 * Listens on loopback by default.
 */
export class AdminServer {
  private server: http.Server | null = null;
  port = 0;

  private readonly hostNames: Set<string>;

  constructor(
    private readonly listen: string,
    private readonly token: string | undefined,
    private readonly target: AdminTarget,
    hostNames: readonly string[] = [],
  ) {
    const { host } = parseHostPort(listen);
    this.hostNames = new Set([...LOOPBACK_NAMES, formatHost(host), ...hostNames].map((name) => name.toLowerCase()));
  }

  /** Whether the endpoint listens on an address other machines may reach. */
  get exposed(): boolean {
    return !isLoopbackHost(parseHostPort(this.listen).host);
  }

  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.listen);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error) =>
        error instanceof BodyTooLarge ? reply(res, 413, { error: `body over ${MAX_BODY} bytes` }) : reply(res, 500, { error: 'internal error' }),
      );
    });
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.token) return false;
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * A browser on a page of any site can reach a loopback port under a name that resolves there (DNS
   * rebinding); its requests carry that name in Host. Only the names this endpoint is known by pass.
   */
  private hostAllowed(req: http.IncomingMessage): boolean {
    const host = req.headers.host?.toLowerCase();
    if (!host) return false;
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
    return this.hostNames.has(name);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.hostAllowed(req)) return reply(res, 421, { error: 'unknown Host: add the name this endpoint is reached by to admin.hostNames' });
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /':
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
          'x-frame-options': 'DENY',
        });
        res.end(LIVE_PAGE);
        return;
      case 'GET /dashboard.json':
        return reply(res, 200, this.target.dashboard());
      case 'GET /healthz':
        return reply(res, 200, { status: 'ok' });
      case 'GET /metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(await this.target.metricsText());
        return;
      case 'GET /status':
        return reply(res, 200, this.target.status());
      case 'GET /bans': {
        const plain = this.authorized(req);
        const bans = this.target.bans().map((ban) => ({ ...ban, key: plain ? ban.key : this.target.mask(ban.key) }));
        return reply(res, 200, { addresses: plain ? 'plain' : 'pseudonymized', bans });
      }
      case 'POST /unban': {
        if (!this.token) return reply(res, 403, { error: 'no admin token is configured (admin.token or EDGEBAN_ADMIN_TOKEN)' });
        if (!this.authorized(req)) return reply(res, 401, { error: 'admin token required (Authorization: Bearer …)' });
        const body = await readBody(req);
        let address: unknown;
        try {
          address = (JSON.parse(body) as { address?: unknown }).address;
        } catch {
          return reply(res, 400, { error: 'body must be JSON: {"address": "…"}' });
        }
        const lifted = typeof address === 'string' ? this.target.unban(address) : null;
        if (lifted === null) return reply(res, 400, { error: 'not an IP address' });
        return reply(res, 200, { lifted });
      }
      default:
        return reply(res, 404, { error: 'not found' });
    }
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
