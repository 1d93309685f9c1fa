#!/usr/bin/env -S node --max-semi-space-size=4 --no-parallel-scavenge
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, describeError, errnoCode } from './common/errors';
import { DEFAULT_MAX_MESSAGE_BYTES } from './config/defaults';
import type { Config } from './config/schema';
import type { ReadConfigFile } from './config/yaml-file';
import type { SpareUdpWorker } from './ingest/udp-thread';

// Each command loads only the modules it runs: the daemon's (HTTP client, logger, metrics) cost
// replay and check a visible part of their start-up.

const USAGE = `usage:
  edgeban run [-c FILE]                                  run the daemon
  edgeban check [-c FILE] [--no-write]                   validate the config, prove Cloudflare reads and writes
  edgeban replay [-c FILE] [--json] [--events] [FILE|-]  what these log lines would ban
  edgeban replay [-c FILE] [--json] --count [FILE|-]     what they are, counted, deciding nothing
  edgeban run [-c FILE] --log-format json|pretty         JSON (default when not on a terminal) or lines for a person
  edgeban status [JAIL] [--json] | edgeban unban ADDRESS ask the running daemon
`;

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

class UsageError extends Error {}

/** The schema and zod, loaded when asked: replay starts its thread first, which then boots while they load. */
function configLoader(): typeof import('./config/load') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load
  return require('./config/load') as typeof import('./config/load');
}

/** `read`: the file as a thread read it while the schema loaded. */
function loadOrExplain(file: string | undefined, read?: ReadConfigFile): Config {
  const { ConfigError, loadConfig } = configLoader();
  try {
    return loadConfig(file, process.env, read);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`invalid config: ${error.message}`);
    throw error;
  }
}

/** The UDP listener thread, booting while the config loads (most configs listen on UDP); it reads `configFile` first. */
function bootUdpThread(configFile: string | undefined): SpareUdpWorker {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load
  const { SpareUdpWorker } = require('./ingest/udp-thread') as typeof import('./ingest/udp-thread');
  return new SpareUdpWorker(configFile);
}

async function run(configFile: string | undefined, logFormat?: 'json' | 'pretty'): Promise<number> {
  // Signals are caught from the start, as their default actions end the process at once (a SIGHUP
  // right after start-up used to): a reload or a stop asked for before the daemon is up is done
  // once it is.
  let reloadAsked = false;
  let stopAsked: string | null = null;
  let reload = () => void (reloadAsked = true);
  let stop = (signal: string) => void (stopAsked ??= signal);
  process.on('SIGHUP', () => reload());
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  const spareUdp = bootUdpThread(configFile);
  const reading = spareUdp.config ?? undefined;
  let config: Config;
  // While the thread reads the file, zod, the schema, the logger and the daemon load: the thread
  // has to boot before it reads, and waiting for it first left this thread idle.
  configLoader();
  const modules = Promise.all([import('./observe/log'), import('./daemon')]);
  try {
    config = loadOrExplain(configFile, await reading);
  } catch (error) {
    spareUdp.discard();
    throw error;
  }
  const [{ createLogger }, { Daemon }] = await modules;
  const log = createLogger(undefined, undefined, logFormat);
  let refused = (_error: Error) => undefined as void;
  const daemon = new Daemon({ config, log, refused: (error) => refused(error), spareUdp });
  try {
    await daemon.start();
  } catch (error) {
    log.fatal({ error: describeError(error) }, 'cannot start');
    log.flush();
    // a set-up only a change of config mends (a shared server that writes to disk) exits as an invalid config does
    return error instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURE;
  }
  if (!config.cloudflare.token || config.cloudflare.dryRun) {
    log.warn(
      config.cloudflare.token ? 'dryRun is set: bans are logged, not sent' : 'no Cloudflare token (CLOUDFLARE_API_TOKEN): dry run, bans are logged, not sent',
    );
  }
  reload = () => {
    let next: Config;
    try {
      next = loadOrExplain(configFile);
    } catch (error) {
      log.error({ error: describeError(error) }, 'SIGHUP: new config refused; the old one keeps running');
      return;
    }
    const { applied, needsRestart } = daemon.reload(next);
    log.info({ applied, needsRestart }, applied.length || needsRestart.length ? 'SIGHUP: config reloaded' : 'SIGHUP: config unchanged');
    if (needsRestart.length) log.warn({ needsRestart }, 'SIGHUP: these changes take effect only after a restart');
  };
  if (reloadAsked) reload();
  return new Promise((resolve) => {
    const end = (code: number) =>
      daemon.stop().then(
        () => {
          log.flush();
          resolve(code);
        },
        () => resolve(EXIT_FAILURE),
      );
    stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void end(EXIT_OK);
    };
    // Cloudflare refused what only a change of config mends: stop, as an invalid config does
    refused = (error: Error) => {
      log.fatal({ error: describeError(error) }, 'cannot go on: the set-up this config needs was refused');
      void end(EXIT_USAGE);
    };
    if (stopAsked) stop(stopAsked);
  });
}

/**
 * `status` and `unban` ask the running daemon's admin endpoint (admin.listen, admin token).
 * `show` turns a successful answer into what is printed; by default, the answer as it came.
 */
async function adminCall(config: Config, method: 'GET' | 'POST', path: string, body?: unknown, show?: (answer: unknown) => string): Promise<number> {
  const { listen, token } = config.admin;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(`http://${listen}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
  } catch (error) {
    process.stderr.write(`edgeban: no daemon answers at ${listen} (${describeError((error as { cause?: unknown }).cause ?? error)})\n`);
    return EXIT_FAILURE;
  }
  const text = await response.text();
  const shown = response.ok && show ? show(JSON.parse(text)) : text;
  process.stdout.write(shown.endsWith('\n') ? shown : `${shown}\n`);
  return response.ok ? EXIT_OK : EXIT_FAILURE;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean', default: false },
      events: { type: 'boolean', default: false },
      count: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || !command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? EXIT_OK : EXIT_USAGE;
  }
  switch (command) {
    case 'run': {
      const format = values['log-format'];
      if (format !== undefined && format !== 'json' && format !== 'pretty') throw new UsageError('--log-format takes json or pretty');
      return run(values.config, format);
    }
    case 'check': {
      const config = loadOrExplain(values.config);
      process.stdout.write(`ok: config ${values.config ?? '(embedded default)'} is valid\n`);
      const { checkCloudflare, configAdvice } = await import('./cloudflare/check');
      const lines = [...configAdvice(config), ...(await checkCloudflare(config, { write: !values['no-write'] }))];
      for (const line of lines) process.stdout.write(`${line.ok ? (line.warn ? 'WARN' : 'ok') : 'FAIL'}: ${line.text}\n`);
      return lines.every((line) => line.ok) ? EXIT_OK : EXIT_FAILURE;
    }
    case 'replay': {
      if (values.count && values.events) throw new UsageError('--count prints counts only, not --events');
      const source = positionals[0] ?? '-';
      // a person at a terminal sees how far a long replay has come; a pipe or a file sees nothing
      const { Progress } = await import('./replay/progress');
      const size = source === '-' ? 0 : (statSync(source, { throwIfNoEntry: false })?.size ?? 0);
      const progress = process.stderr.isTTY ? (lines: () => number) => new Progress(process.stderr, size, lines) : undefined;
      if (values.count) {
        // the one setting counting reads; without a file it is the default, and the schema stays unloaded
        const maxLineBytes = values.config ? loadOrExplain(values.config).listen.maxMessageBytes : DEFAULT_MAX_MESSAGE_BYTES;
        // its own module: counting loads nothing of the policy
        const { countLines } = await import('./replay/count');
        await countLines(maxLineBytes, source, process.stdout, {
          json: values.json,
          progress,
          warn: (message) => process.stderr.write(`edgeban: ${message}\n`),
        });
      } else {
        const { replay } = await import('./replay/replay');
        const { openReplayInput } = await import('./replay/input');
        await replay(() => loadOrExplain(values.config), openReplayInput(source), process.stdout, { json: values.json, events: values.events, progress });
      }
      return EXIT_OK;
    }
    case 'status': {
      if (values.json) return adminCall(loadOrExplain(values.config), 'GET', '/status');
      const { statusText } = await import('./observe/status-text');
      return adminCall(loadOrExplain(values.config), 'GET', '/status', undefined, (answer) => statusText(answer as Record<string, unknown>, positionals[0]));
    }
    case 'unban': {
      if (!positionals[0]) throw new UsageError('usage: edgeban unban ADDRESS');
      return adminCall(loadOrExplain(values.config), 'POST', '/unban', { address: positionals[0] });
    }
    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
}

if (require.main === module) {
  // A reader that stops early (`edgeban replay … | head`) is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(EXIT_OK);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: Error) => {
      const usage = error instanceof UsageError || errnoCode(error)?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`edgeban: ${error.message}\n`);
      process.exitCode = usage ? EXIT_USAGE : EXIT_FAILURE;
    },
  );
}
