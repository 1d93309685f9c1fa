/** The fake must behave as Cloudflare documents its real API (see the sources named in fake-cloudflare/server.ts). */
import { FakeCloudflare } from './fake-cloudflare/server';

let fake: FakeCloudflare;
let base: string;
let token: string;
let zone: string;
let account: string;

async function startFake(options: ConstructorParameters<typeof FakeCloudflare>[0] = {}) {
  await fake?.stop();
  fake = new FakeCloudflare({ rateWindowMs: 2000, ...options });
  account = fake.addAccount();
  zone = fake.addZone('example.com', account);
  token = fake.addToken();
  base = await fake.start();
}

beforeEach(() => startFake());
afterEach(() => fake.stop());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text), headers: response.headers };
}
const rules = () => `/zones/${zone}/firewall/access_rules/rules`;
const create = (value: string, target = 'ip', notes = 'edgeban until=1 jail=j') =>
  call('POST', rules(), { mode: 'block', configuration: { target, value }, notes });

test('envelope: indented JSON, result first, id first in a rule, Ratelimit headers', async () => {
  const response = await create('203.0.113.7');
  expect(response.status).toBe(200);
  expect(response.text.startsWith('{\n  "result": {\n    "id": "')).toBe(true);
  expect(response.json).toMatchObject({
    success: true,
    errors: [],
    messages: [],
    result: { mode: 'block', paused: false, configuration: { target: 'ip', value: '203.0.113.7' } },
  });
  expect(response.json.result.id).toMatch(/^[0-9a-f]{32}$/);
  expect(response.json.result.created_on).toMatch(/\.\d{7,}Z$/);
  expect(response.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
  expect(response.headers.get('ratelimit-policy')).toBe('"default";q=1200;w=2');
});

test('authentication failures', async () => {
  expect((await call('GET', rules(), undefined, { authorization: 'Bearer not a token' })).json.errors[0]).toMatchObject({
    code: 6003,
    error_chain: [{ code: 6111 }],
  });
  const unknown = await call('GET', rules(), undefined, { authorization: `Bearer ${'x'.repeat(40)}` });
  expect([unknown.status, unknown.json.errors[0].code]).toEqual([403, 9109]);
  const none = await call('GET', rules(), undefined, {});
  expect(none.json).toEqual({ success: false, errors: [{ code: 9106, message: 'Missing X-Auth-Key, X-Auth-Email or Authorization headers' }] });
  const weak = fake.addToken(['zone_read']);
  const denied = await call('GET', rules(), undefined, { authorization: `Bearer ${weak}` });
  expect([denied.status, denied.json.errors[0]]).toEqual([403, { code: 10000, message: 'Authentication error' }]);
  const verify = await call('GET', '/user/tokens/verify');
  expect(verify.json).toMatchObject({ result: { status: 'active' }, messages: [{ code: 10000, message: 'This API Token is valid and active' }] });
  expect((await call('GET', '/user/tokens/verify', undefined, { 'x-auth-email': 'a@example.com', 'x-auth-key': 'f'.repeat(37) })).json.errors[0].code).toBe(
    9103,
  );
});

test('unknown routes and ids', async () => {
  expect((await call('GET', `/zones/${'0'.repeat(32)}/firewall/access_rules/rules`)).json.errors[0].code).toBe(7003);
  expect((await call('GET', '/nope')).json.errors[0].code).toBe(7003);
  const missing = await call('DELETE', `${rules()}/${'a'.repeat(32)}`);
  expect([missing.status, missing.json.errors[0]]).toEqual([404, { code: 10001, message: 'firewallaccessrules.api.not_found' }]);
});

test('target validation and duplicates', async () => {
  expect((await create('2001:db8::1', 'ip')).status).toBe(400);
  expect((await create('203.0.113.7', 'ip6')).status).toBe(400);
  expect((await create('203.0.113.0/22', 'ip_range')).json.errors[0].message).toContain('invalid ip provided');
  expect((await create('2001:db8:1:2::/64', 'ip_range')).status).toBe(200);
  expect((await create('203.0.113.0/24', 'ip_range')).status).toBe(200);
  const duplicate = await create('2001:DB8:1:2::/64', 'ip_range');
  expect([duplicate.status, duplicate.json.errors[0].code]).toEqual([400, 10009]);
  const badMode = await call('POST', rules(), { mode: 'ban', configuration: { target: 'ip', value: '192.0.2.1' } });
  expect(badMode.json.errors[0].message).toContain('invalid mode received: ban');
});

test('list: filters under both spellings, notes substring, newest first, pages of at most 100', async () => {
  for (let i = 1; i <= 130; i++) await create(`198.51.100.${i}`, 'ip', i % 2 ? 'edgeban until=1 jail=a' : 'manual');
  const first = await call('GET', `${rules()}?notes=EDGEBAN&per_page=500`);
  expect(first.json.result_info).toEqual({ page: 1, per_page: 100, count: 65, total_count: 65, total_pages: 1 });
  expect(first.json.result[0].configuration.value).toBe('198.51.100.129');
  const dotted = await call('GET', `${rules()}?configuration.value=198.51.100.7`);
  const underscore = await call('GET', `${rules()}?configuration_value=198.51.100.7`);
  expect(dotted.json.result.map((r: { id: string }) => r.id)).toEqual(underscore.json.result.map((r: { id: string }) => r.id));
  expect(dotted.json.result).toHaveLength(1);
  const past = await call('GET', `${rules()}?page=9&per_page=100`);
  expect([past.json.result, past.json.result_info.count]).toEqual([[], 0]);
  // a filter sent in a GET body is ignored: the unfiltered list comes back (fail2ban #3952)
  const body = await fetch(`${base}${rules()}`, { method: 'GET', headers: { authorization: `Bearer ${token}` } });
  expect(((await body.json()) as { result_info: { total_count: number } }).result_info.total_count).toBe(130);
});

test('PATCH changes only mode and notes; DELETE returns the id', async () => {
  const { json } = await create('192.0.2.9');
  const id = json.result.id;
  const patched = await call('PATCH', `${rules()}/${id}`, { mode: 'challenge', notes: 'x', configuration: { target: 'ip', value: '192.0.2.10' } });
  expect(patched.json.result).toMatchObject({ mode: 'challenge', notes: 'x', configuration: { value: '192.0.2.9' } });
  expect((await call('DELETE', `${rules()}/${id}`, { cascade: 'none' })).json.result).toEqual({ id });
  expect(fake.allRules()).toHaveLength(0);
});

test('rate limit: 429 with code 971 and Retry-After for the rest of the window', async () => {
  await startFake({ rateLimit: 50 });
  const statuses: number[] = [];
  for (let i = 0; i < 52; i++) statuses.push((await call('GET', rules())).status);
  expect(statuses.filter((s) => s === 200)).toHaveLength(50);
  const limited = await call('GET', rules());
  expect(limited.status).toBe(429);
  expect(limited.json.errors[0].code).toBe(971);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  expect((await call('GET', rules())).status).toBe(200);
});

test('fault switches: failing, slow, dropped', async () => {
  fake.fail({ count: 2, status: 503 });
  expect((await call('GET', rules())).status).toBe(503);
  expect((await call('GET', rules())).status).toBe(503);
  expect((await call('GET', rules())).status).toBe(200);
  fake.dropConnections(1);
  await expect(call('GET', rules())).rejects.toThrow();
  fake.slowDown(200);
  const started = Date.now();
  await call('GET', rules());
  expect(Date.now() - started).toBeGreaterThanOrEqual(190);
});

test('GET /ips needs no authentication', async () => {
  const ips = await call('GET', '/ips', undefined, {});
  expect(ips.json.result).toMatchObject({ etag: expect.any(String), ipv4_cidrs: expect.any(Array), ipv6_cidrs: expect.any(Array) });
});

test('account-level rules', async () => {
  const path = `/accounts/${account}/firewall/access_rules/rules`;
  const created = await call('POST', path, { mode: 'block', configuration: { target: 'ip', value: '192.0.2.5' }, notes: 'n' });
  expect(created.json.result.scope).toMatchObject({ id: account, type: 'account' });
  expect((await call('DELETE', `${path}/${created.json.result.id}`, {})).status).toBe(200);
});

describe('Lists API and custom rules', () => {
  const lists = () => `/accounts/${account}/rules/lists`;
  const op = async (operationId: string) => {
    for (;;) {
      const { json } = await call('GET', `${lists()}/bulk_operations/${operationId}`);
      if (json.result.status === 'completed' || json.result.status === 'failed') return json.result;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  async function newList(name = 'edgeban_block') {
    return (await call('POST', lists(), { kind: 'ip', name, description: 'test' })).json.result;
  }

  test('create: names are [a-z0-9_] up to 50; a duplicate name is refused', async () => {
    expect((await call('POST', lists(), { kind: 'ip', name: 'Bad-Name' })).status).toBe(400);
    const list = await newList();
    expect(list).toMatchObject({ name: 'edgeban_block', kind: 'ip', num_items: 0, num_referencing_filters: 0 });
    expect((await call('POST', lists(), { kind: 'ip', name: 'edgeban_block' })).status).toBe(409);
  });

  test('items: asynchronous, validated, upserted by address, one pending operation per account', async () => {
    const list = await newList();
    const items = `${lists()}/${list.id}/items`;
    expect((await call('POST', items, [{ ip: '2001:db8::1' }])).status).toBe(400); // IPv6 only as a prefix
    expect((await call('POST', items, [{ ip: '2001:db8::/96' }])).status).toBe(400); // longer than /64
    expect((await call('POST', items, [{ ip: '10.0.0.0/7' }])).status).toBe(400);
    const first = await call('POST', items, [
      { ip: '192.0.2.1', comment: 'a' },
      { ip: '2001:DB8:1:2::/64', comment: 'b' },
    ]);
    expect(first.json.result.operation_id).toMatch(/^[0-9a-f]{32}$/);
    expect(fake.lists.listsOf(account)[0].items.size).toBe(0); // not yet applied
    const busy = await call('POST', items, [{ ip: '192.0.2.2' }]);
    expect(busy.status).toBe(429);
    expect(await op(first.json.result.operation_id)).toMatchObject({ status: 'completed', completed: expect.any(String) });
    const second = await call('POST', items, [{ ip: '192.0.2.1/32', comment: 'replaced' }]);
    await op(second.json.result.operation_id);
    const listed = (await call('GET', `${items}?per_page=500`)).json;
    expect(listed.result.map((i: { ip: string; comment: string }) => [i.ip, i.comment])).toEqual([
      ['192.0.2.1', 'replaced'],
      ['2001:db8:1:2::/64', 'b'],
    ]);
    expect(listed.result_info.cursors).toEqual({});
    const gone = await call('DELETE', items, { items: [{ id: listed.result[0].id }] });
    await op(gone.json.result.operation_id);
    expect([...fake.lists.listsOf(account)[0].items.keys()]).toEqual(['2001:db8:1:2::/64']);
  });

  test('cursor paging in ascending order, search as a prefix', async () => {
    const list = await newList();
    const items = `${lists()}/${list.id}/items`;
    const write = await call(
      'POST',
      items,
      Array.from({ length: 12 }, (_, i) => ({ ip: `198.51.100.${12 - i}` })),
    );
    await op(write.json.result.operation_id);
    const seen: string[] = [];
    let cursor = '';
    for (;;) {
      const page = (await call('GET', `${items}?per_page=5${cursor ? `&cursor=${cursor}` : ''}`)).json;
      seen.push(...page.result.map((i: { ip: string }) => i.ip));
      if (!page.result_info.cursors.after) break;
      cursor = page.result_info.cursors.after;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `198.51.100.${i + 1}`));
    expect((await call('GET', `${items}?search=198.51.100.1&per_page=50`)).json.result.map((i: { ip: string }) => i.ip)).toEqual([
      '198.51.100.1',
      '198.51.100.10',
      '198.51.100.11',
      '198.51.100.12',
    ]);
    expect((await call('GET', `${items}?per_page=501`)).status).toBe(400);
  });

  test('the item limit fails the operation; a failure can be injected', async () => {
    await startFake({ maxItems: 3 });
    const list = await newList();
    const items = `${lists()}/${list.id}/items`;
    const tooMany = await call(
      'POST',
      items,
      [1, 2, 3, 4].map((i) => ({ ip: `192.0.2.${i}` })),
    );
    expect(await op(tooMany.json.result.operation_id)).toMatchObject({ status: 'failed', error: expect.stringContaining('maximum') });
    fake.lists.failNextBulk = 1;
    const failing = await call('POST', items, [{ ip: '192.0.2.9' }]);
    expect((await op(failing.json.result.operation_id)).status).toBe('failed');
  });

  test('rulesets: entry point 404 until created; rules name existing lists only; a referenced list cannot be deleted', async () => {
    const entry = `/zones/${zone}/rulesets/phases/http_request_firewall_custom/entrypoint`;
    expect((await call('GET', entry)).status).toBe(404);
    const bad = await call('POST', `/zones/${zone}/rulesets`, {
      name: 'default',
      kind: 'zone',
      phase: 'http_request_firewall_custom',
      rules: [{ action: 'block', expression: 'ip.src in $missing' }],
    });
    expect(bad.status).toBe(400);
    const list = await newList();
    const created = await call('POST', `/zones/${zone}/rulesets`, {
      name: 'default',
      kind: 'zone',
      phase: 'http_request_firewall_custom',
      rules: [{ action: 'log', expression: 'http.host eq "x"' }],
    });
    const ruleset = created.json.result;
    const added = await call('POST', `/zones/${zone}/rulesets/${ruleset.id}/rules`, {
      action: 'block',
      expression: 'ip.src in $edgeban_block',
      description: 'edgeban',
    });
    expect(added.json.result.rules.map((r: { action: string }) => r.action)).toEqual(['log', 'block']);
    expect((await call('GET', entry)).json.result.version).toBe('2');
    expect((await call('DELETE', `${lists()}/${list.id}`)).json.errors[0].code).toBe(10031);
    const put = await call('PUT', entry, { rules: [] });
    expect(put.json.result.version).toBe('3');
    expect((await call('DELETE', `${lists()}/${list.id}`)).status).toBe(200);
  });

  test('lists need Account Filter Lists, rulesets Zone WAF', async () => {
    const weak = fake.addToken(['zone_firewall_services']);
    expect((await call('GET', lists(), undefined, { authorization: `Bearer ${weak}` })).json.errors[0].code).toBe(10000);
    const entry = `/zones/${zone}/rulesets/phases/http_request_firewall_custom/entrypoint`;
    expect((await call('GET', entry, undefined, { authorization: `Bearer ${weak}` })).json.errors[0].code).toBe(10000);
  });
});
