/**
 * The UDP listener thread's script (udp-listener.ts does the listening). A thread booted before
 * the config is read reads the config file first, so that the YAML parser loads while the main
 * thread loads what validates it: the listener's own modules load after, while the main thread
 * validates.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readConfigFile } from '../config/yaml-file';
import type { UdpWorkerStart } from './udp-thread';

const start = workerData as UdpWorkerStart | null;
if (start?.configFile) parentPort!.postMessage(readConfigFile(start.configFile));
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the config is read
(require('./udp-listener') as typeof import('./udp-listener')).serveListener(parentPort!);
