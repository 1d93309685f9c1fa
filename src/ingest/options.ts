import { readFileSync } from 'node:fs';
import { CidrSet } from '../address/cidr';
import type { Config } from '../config/schema';
import type { IngestOptions } from './listeners';
import { chosenUdpReader } from './native-udp';

/** The listener settings that apply to new frames and connections without a restart. */
export function ingestLimits(config: Config): Pick<IngestOptions, 'allowedSenders' | 'maxMessageBytes' | 'maxConnections' | 'idleTimeoutMs'> {
  const { allowedSenders, maxMessageBytes, maxConnections, idleTimeout } = config.listen;
  return { allowedSenders: new CidrSet(allowedSenders), maxMessageBytes, maxConnections, idleTimeoutMs: idleTimeout * 1000 };
}

/** Everything the listeners need, certificates read from their files. */
export function ingestOptions(config: Config, env: NodeJS.ProcessEnv = process.env): IngestOptions {
  const { udp, tcp, tls, udpReceiveBuffer } = config.listen;
  const endpoints = tls.map(({ address, cert, key, ca }) => ({
    address,
    cert: readFileSync(cert),
    key: readFileSync(key),
    ca: ca ? readFileSync(ca) : undefined,
  }));
  return { udp, tcp, tls: endpoints, udpReceiveBufferBytes: udpReceiveBuffer, udpReader: chosenUdpReader(env), ...ingestLimits(config) };
}
