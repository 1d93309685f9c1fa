/** The Grafana dashboard queries only metrics edgeban exports. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon } from './helpers/in-process';

test('every metric the dashboard queries exists in /metrics', async () => {
  const dashboard = JSON.parse(readFileSync(join(__dirname, '../examples/grafana/edgeban.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
  const queried = new Set(dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => target.expr.match(/edgeban_[a-z0-9_]+/g) ?? [])));
  expect(queried.size).toBeGreaterThan(8);
  const daemon = await new TestDaemon({}).start();
  try {
    daemon.send('Blocked user enumeration attempt from 203.0.113.9'); // so that the counters have series
    await new Promise((resolve) => setTimeout(resolve, 300));
    const text = await (await fetch(`http://127.0.0.1:${daemon.daemon.admin!.port}/metrics`)).text();
    const exported = new Set(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
      ),
    );
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  } finally {
    await daemon.stop();
  }
});
