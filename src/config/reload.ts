import type { Config } from './schema';

/**
 * What a SIGHUP does with a new config: `applied` names what changes while running (trust, jails,
 * log privacy, listener limits), `needsRestart` what only a restart applies (listen addresses,
 * Cloudflare, admin, shared state, the shield), and `running` is the config from now on: the new one, but with the old
 * values of what needs a restart, so that what runs and what the daemon reports agree.
 */
export interface ReloadPlan {
  applied: string[];
  needsRestart: string[];
  running: Config;
  /** trust or jails changed: the policy must be reconfigured */
  policyChanged: boolean;
}

export function planReload(current: Config, next: Config): ReloadPlan {
  const applied = [
    ...changed('trust', current.trust, next.trust),
    ...changed('jails', current.jails, next.jails),
    ...changed('privacy', current.privacy, next.privacy),
    ...changed('widen', current.widen, next.widen),
    ...changed('listen limits', listenLimits(current), listenLimits(next)),
  ];
  const needsRestart = [
    ...changed('listen addresses', listenAddresses(current), listenAddresses(next)),
    ...changed('cloudflare', current.cloudflare, next.cloudflare),
    ...changed('admin', current.admin, next.admin),
    ...changed('shared', current.shared, next.shared),
    ...changed('shield', current.shield, next.shield),
  ];
  const running: Config = {
    ...next,
    listen: { ...next.listen, ...listenAddresses(current) },
    cloudflare: current.cloudflare,
    admin: current.admin,
    shared: current.shared,
    shield: current.shield,
  };
  return { applied, needsRestart, running, policyChanged: applied.includes('trust') || applied.includes('jails') };
}

function changed(name: string, a: unknown, b: unknown): string[] {
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [name];
}

function listenLimits(config: Config) {
  const { allowedSenders, maxMessageBytes, maxConnections, idleTimeout } = config.listen;
  return { allowedSenders, maxMessageBytes, maxConnections, idleTimeout };
}

function listenAddresses(config: Config) {
  const { udp, tcp, tls, udpReceiveBuffer } = config.listen;
  return { udp, tcp, tls, udpReceiveBuffer };
}
