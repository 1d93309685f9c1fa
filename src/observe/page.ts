/**
 * The live page at the admin endpoint's `/`: one self-contained HTML document (no CDN, no
 * framework) that reads /dashboard.json every few seconds and shows each figure as a number, with
 * charts beside the numbers. It shows counts, jails and sites, never an address.
 */
export const LIVE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeban</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2433; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1rem; margin: 0 0 .5rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; margin-bottom: 1rem; }
  .card, section { background: #fff; border-radius: 6px; padding: .75rem 1rem; box-shadow: 0 1px 2px #0002; }
  .card b { display: block; font-size: 1.6rem; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(26rem, 1fr)); gap: .75rem; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .15rem .4rem; border-bottom: 1px solid #eee; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  svg { width: 100%; height: 140px; } .muted { color: #778; }
  .hard { fill: #c0392b; } .soft { fill: #e67e22; } .extra { fill: #2980b9; } .info { fill: #95a5a6; }
  .banned { fill: #8e44ad; } .unbanned { fill: #27ae60; } .failed { fill: #c0392b; }
</style>
</head>
<body>
<h1>edgeban <span class="muted" id="updated"></span></h1>
<div class="cards">
  <div class="card">events, last minute<b data-figure="events-minute">-</b></div>
  <div class="card">active bans<b data-figure="active-bans">-</b></div>
  <div class="card">ban queue<b data-figure="queue">-</b></div>
  <div class="card">bans ordered<b data-figure="bans-ordered">-</b></div>
  <div class="card">Cloudflare errors<b data-figure="api-errors">-</b></div>
  <div class="card">API calls, 5 min<b data-figure="api-budget">-</b><span class="muted" data-figure="api-left"></span></div>
  <div class="card">tracked keys<b data-figure="tracked">-</b></div>
</div>
<div class="grid">
  <section><h2>Events a minute, by class</h2><svg id="events-chart" role="img" aria-label="events a minute"></svg><div id="events-legend" class="muted"></div></section>
  <section><h2>Bans and unbans a minute</h2><svg id="bans-chart" role="img" aria-label="bans a minute"></svg><div class="muted">purple banned, green unbanned, red failed</div></section>
  <section><h2>Events in the last minute, by site</h2><table id="sites"></table></section>
  <section><h2>Active bans by jail and action</h2><table id="jails"></table></section>
  <section><h2>Cloudflare's answers</h2><table id="api"></table><table id="api-recent"></table></section>
</div>
<script>
const CLASSES = ['hard', 'soft', 'extra', 'info'];
const set = (name, value) => { document.querySelector('[data-figure="' + name + '"]').textContent = String(value); };
const text = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
function rows(id, pairs, head) {
  document.getElementById(id).innerHTML = '<tr>' + head.map((h) => '<th>' + text(h) + '</th>').join('') + '</tr>' +
    (pairs.length ? pairs.map((p) => '<tr>' + p.map((v, i) => '<td' + (i === p.length - 1 ? ' class="n"' : '') + '>' + text(v) + '</td>').join('') + '</tr>').join('') : '<tr><td class="muted">none</td></tr>');
}
function bars(id, minutes, keys, pick) {
  const svg = document.getElementById(id);
  const width = 600, height = 140, n = 60, w = width / n;
  const totals = minutes.map((m) => keys.reduce((sum, k) => sum + (pick(m, k) || 0), 0));
  const max = Math.max(1, ...totals);
  const now = Math.floor(Date.now() / 60000) * 60;
  let out = '';
  for (const m of minutes) {
    const slot = n - 1 - Math.round((now - m.at) / 60);
    if (slot < 0) continue;
    let y = height;
    for (const k of keys) {
      const h = ((pick(m, k) || 0) / max) * (height - 10);
      if (h <= 0) continue;
      y -= h;
      out += '<rect class="' + k + '" x="' + (slot * w).toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + (w - 1).toFixed(1) + '" height="' + h.toFixed(1) + '"><title>' + k + ' ' + pick(m, k) + '</title></rect>';
    }
  }
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.innerHTML = out;
}
async function refresh() {
  const data = await (await fetch('dashboard.json', { cache: 'no-store' })).json();
  const s = data.status;
  const minutes = data.history;
  const nowMinute = Math.floor(Date.now() / 60000) * 60;
  // the current minute; just after a minute turns, while it is still empty, the one before
  const last = minutes.find((m) => m.at === nowMinute) || minutes.find((m) => m.at === nowMinute - 60) || { events: {}, sites: {} };
  set('events-minute', Object.values(last.events).reduce((a, b) => a + b, 0));
  set('active-bans', s.activeBans);
  set('queue', s.queued);
  set('bans-ordered', s.bansOrdered);
  set('api-errors', Object.entries(s.apiResponses).filter(([code]) => code === '0' || Number(code) >= 400).reduce((a, [, n]) => a + n, 0));
  set('tracked', s.trackedKeys);
  const budget = s.apiBudget;
  set('api-budget', budget ? budget.used + ' / ' + budget.limit : 'dry run');
  set('api-left', budget && budget.cloudflareRemaining !== null ? budget.cloudflareRemaining + ' left at Cloudflare' : '');
  bars('events-chart', minutes, CLASSES, (m, k) => m.events[k]);
  bars('bans-chart', minutes, ['banned', 'unbanned', 'failed'], (m, k) => m[k]);
  document.getElementById('events-legend').textContent = CLASSES.map((c) => c + ' ' + minutes.reduce((a, m) => a + (m.events[c] || 0), 0)).join(' · ') + ' in the last hour';
  rows('sites', Object.entries(last.sites).sort((a, b) => b[1] - a[1]), ['site', 'events']);
  rows('jails', Object.entries(data.bansByJail).map(([key, n]) => [...key.split(' '), n]), ['jail', 'action', 'bans']);
  rows('api', Object.entries(s.apiResponses).map(([code, n]) => [code === '0' ? 'no answer' : 'HTTP ' + code, n]), ['answer', 'count']);
  rows('api-recent', s.recentApiErrors.slice().reverse().map((e) => [new Date(e.at * 1000).toLocaleTimeString(), e.outcome + ' (' + e.jail + ')', e.error]), ['recent error', '', '']);
  document.getElementById('updated').textContent = 'up ' + s.uptimeSeconds + ' s, backend ' + s.backend + ', updated ' + new Date().toLocaleTimeString();
}
refresh().catch(() => undefined);
setInterval(() => refresh().catch(() => undefined), 5000);
</script>
</body>
</html>
`;
