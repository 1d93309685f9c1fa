/** SIGHUP: a good config is applied without losing windows or bans; a bad one is refused. */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { CLI, DaemonProcess } from './helpers/daemon';
import { octetCounted } from './helpers/wire';

const base = (allow: string[] = []) => ({
  listen: { tcp: ['127.0.0.1:0'], udp: [] },
  trust: { allow },
  jails: { soft: { events: ['soft'], maxretry: 2, findtime: '10m', bantime: '1h' } },
});

async function sender(daemon: DaemonProcess) {
  const socket = net.connect({ port: daemon.port('tcp'), host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  let n = 0;
  return {
    send: (address: string) =>
      socket.write(
        octetCounted(`<37>2025-03-09T06:31:00.${String(++n).padStart(6, '0')}+00:00 web1 wp(x.example)[1]: Authentication failure for a from ${address}`),
      ),
    close: () => socket.destroy(),
  };
}

test('a good config: allow-list applied live, the open window survives, a listen change needs a restart', async () => {
  const daemon = await DaemonProcess.start(base());
  const s = await sender(daemon);
  try {
    s.send('203.0.113.1'); // one hit of two in the window
    await daemon.waitForLog((l) => l.msg === 'event');
    daemon.reload({ ...base(['198.51.100.0/24']), listen: { tcp: ['127.0.0.1:0'], udp: ['127.0.0.1:0'] } });
    const reloaded = await daemon.waitForLog((l) => l.msg === 'SIGHUP: config reloaded');
    expect(reloaded.applied).toEqual(['trust']);
    expect(reloaded.needsRestart).toEqual(['listen addresses']);
    s.send('198.51.100.5');
    await daemon.waitForLog((l) => l.msg === 'event' && l.ignored === 'allow');
    s.send('203.0.113.1'); // the second hit: the window kept the first
    await daemon.waitForLog((l) => String(l.msg).startsWith('banned'));
  } finally {
    s.close();
    await daemon.stop();
  }
});

test('a bad config is refused with the key named, and the old one keeps running', async () => {
  const daemon = await DaemonProcess.start(base());
  const s = await sender(daemon);
  try {
    daemon.reload('jails:\n  soft: { events: [soft], maxretry: 0, findtime: 1m, bantime: 1h }\n');
    const refused = await daemon.waitForLog((l) => l.msg === 'SIGHUP: new config refused; the old one keeps running');
    expect(String(refused.error)).toContain('jails.soft.maxretry');
    s.send('203.0.113.2');
    s.send('203.0.113.2');
    await daemon.waitForLog((l) => String(l.msg).startsWith('banned'));
  } finally {
    s.close();
    await daemon.stop();
  }
});

/** Starts `edgeban run` on the embedded default and sends SIGHUP the moment it says it listens. */
function hupAtStart(): Promise<{ signal: NodeJS.Signals | null; log: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'run'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'ignore'] });
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const before = log;
      log += chunk;
      const appeared = (text: string) => !before.includes(text) && log.includes(text);
      if (appeared('edgeban listening')) child.kill('SIGHUP');
      if (appeared('SIGHUP: config unchanged')) child.kill('SIGTERM');
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), 5000);
    child.on('exit', (_code, signal) => (clearTimeout(timer), resolve({ signal, log })));
  });
}

test('a SIGHUP as soon as it listens is a reload, never the end of it (eight times)', async () => {
  for (let i = 0; i < 8; i++) {
    const { signal, log } = await hupAtStart();
    expect(signal).toBeNull(); // killed by SIGHUP's default action, it would be 'SIGHUP'
    expect(log).toContain('SIGHUP: config unchanged');
  }
}, 60_000);
