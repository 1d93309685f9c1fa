/** SIGHUP: a good config is applied without losing windows or bans; a bad one is refused. */
import net from 'node:net';
import { DaemonProcess } from './helpers/daemon';
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
      socket.write(octetCounted(`<37>2025-03-09T06:31:00.${String(++n).padStart(6, '0')}+00:00 web1 wp(x.example)[1]: Authentication failure for a from ${address}`)),
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
