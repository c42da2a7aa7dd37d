// Journey 14, logs and alerts: a department writes its own alert rules in
// the console (a node that does not answer, a log keyword, a rule outside
// its time window) beside the four default ones; finds a line its node
// wrote with a regular expression, follows the log live, changes the log
// level at run time (which the keyword rule catches) and downloads the
// day's file; a node that hangs fires the alert on the alerts page and in
// the message centre, is acknowledged with a note, and resolves once the
// node answers again, while the rule outside its window stays quiet. The
// chain auditor reads the logs and alerts and changes nothing; another
// department sees none of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import {
  ADMIN_PASSWORD, api, approvedChain, firstSignIn, landed, newDepartment, newPage, open, shot, signIn, useRig,
} from '../lib/harness.js';

// Figures (and so alert evaluations) every second.
const rig = useRig(['--metrics-interval-secs', '1']);

/** A department with its administrator signed in. */
const department = (admin, base, ...rest) => newDepartment(rig.chrome.browser, admin, base, ...rest);

/** The pid of node `name`'s process, from the pid file the local driver keeps in its directory. */
function nodePid(name) {
  const files = readdirSync(rig.platform.data, { recursive: true })
    .filter((f) => f.endsWith(`${sep}pid`) && f.split(sep).includes(name));
  assert.equal(files.length, 1, `one pid file for ${name}: ${files}`);
  return Number(readFileSync(join(rig.platform.data, files[0]), 'utf8').trim());
}

/** Polls `f` (bounded) until it returns something truthy. */
async function eventually(what, f, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((ok) => setTimeout(ok, 300));
  }
}

/** `HH:MM` (UTC) `hours` from now. */
function hhmm(hours) {
  const d = new Date(Date.now() + hours * 3_600_000);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

/** Fills and saves the new-rule form; resolves to the rule's id. */
async function newRule(page, name, fill) {
  await page.click('#new-rule');
  await page.waitForSelector('#rule-form');
  await page.fill('#rule-name', name);
  await fill();
  await page.click('#rule-save');
  await page.waitForSelector('#rule-form', { state: 'detached' });
  const row = page.locator('#rule-list tr', { hasText: name });
  await row.waitFor();
  return Number(await row.getAttribute('data-rule-id'));
}

test('logs and alerts: regex search, live, level at run time, download; rules from the form, a hung node fires, acknowledged, resolves; auditor; another department', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  const env = await department(admin, base, '生态环境局', 'env.gov', 'env-admin', 'Green-Bureau-2026!');
  const chainId = await approvedChain(env, admin, '排污监测', { kind: 'chain', name: 'env-chain', consensus: 'solo',
    suite: 'gm', nodes: 1, resources: { cpu_millis: 100, memory_mb: 128, storage_mb: 256 } });
  const chain = (await api(env, 'GET', `/api/v1/chains/${chainId}`)).body;
  const node = chain.nodes[0];

  // The rules: the four defaults, and three of the department's own from the form.
  await env.click('#nav-alerts');
  await landed(env, '/alerts');
  await env.click('#tab-rules');
  await eventually('the default rules', async () => (await env.locator('#rule-list tr[data-builtin="true"]').count()) === 4);
  assert.equal(await env.locator('#rule-list tr[data-builtin="true"] [id$="-delete"]').count(), 0, 'defaults are not deleted');
  const hung = await newRule(env, '节点无响应', async () => {
    // The form starts on last(up) == 0 for each node; it must hold 3 s.
    assert.equal(await env.inputValue('#rule-conditions .cond-series'), 'up');
    await env.fill('#rule-duration', '3');
    await env.selectOption('#rule-severity', 'critical');
  });
  const keyword = await newRule(env, '日志级别变更', async () => {
    await env.selectOption('#rule-conditions .cond-kind', 'log');
    await env.selectOption('#rule-conditions .cond-log-type', 'system');
    await env.fill('#rule-conditions .cond-pattern', 'log level changed');
    await env.fill('#rule-duration', '0');
  });
  const night = await newRule(env, '夜间值守', async () => {
    await env.fill('#rule-duration', '0');
    await env.check('#rule-window-on');
    await env.fill('#rule-window-start', hhmm(6));
    await env.fill('#rule-window-end', hhmm(7));
    await env.fill('#rule-window-offset', '0');
  });
  // A threshold that is not a number is refused before it is sent.
  await env.click('#new-rule');
  await env.fill('#rule-name', '坏阈值');
  await env.fill('#rule-conditions .cond-threshold', 'abc');
  await env.click('#rule-save');
  await env.waitForSelector('#threshold-error');
  await env.click('#rule-cancel');
  const rules = (await api(env, 'GET', '/api/v1/alert-rules')).body;
  const byId = (id) => rules.find((r) => r.id === id);
  assert.deepEqual(byId(hung).conditions, [{ kind: 'metric', series: 'up', aggregate: 'last', op: '==', threshold: 0 }]);
  assert.equal(byId(hung).duration_s, 3);
  assert.equal(byId(hung).severity, 'critical');
  assert.deepEqual(byId(keyword).conditions, [{ kind: 'log', log_type: 'system', pattern: 'log level changed', regex: false }]);
  assert.deepEqual(byId(night).window, { days: [], start: hhmm(6), end: hhmm(7), utc_offset_minutes: 0 });
  assert.ok(!rules.some((r) => r.name === '坏阈值'));
  await shot(env, 'alert-rules-zh');

  // Logs: the node's system log, searched by a regular expression.
  await env.click('#nav-logs');
  await landed(env, '/logs');
  await env.waitForSelector('#logs-node');
  await env.click('#type-system');
  await env.waitForSelector('#type-system.active');
  await env.fill('#log-form input[name=q]', 'node start(ed|ing)');
  await env.check('#log-form input[name=regex]');
  await env.click('#log-form button[type=submit]');
  await env.waitForSelector('#log-lines tr[data-level]');
  assert.match(await env.textContent('#log-lines tbody'), /node start(ed|ing)/);
  await shot(env, 'logs-search-zh');

  // Live: a level change at run time (no restart) shows up as it is written.
  await env.fill('#log-form input[name=q]', '');
  await env.check('#log-live');
  await env.waitForSelector('#log-following');
  // The node's process before the change, to see it is not restarted.
  const pid = nodePid(node.name);
  // The node runs at the platform's level (the tests start it at warn).
  const was = await eventually('the current level', async () => env.textContent('#current-level'));
  assert.notEqual(was, 'debug');
  await env.selectOption('#level-choice', 'debug');
  await env.click('#level-apply');
  await env.waitForSelector('#level-changed');
  await eventually('the level shown', async () => (await env.textContent('#current-level')) === 'debug');
  await env.waitForFunction(() => document.querySelector('#log-lines tbody tr')?.textContent.includes('log level changed'),
    null, { timeout: 15_000 });
  assert.equal(nodePid(node.name), pid, 'the same process: no restart');
  await shot(env, 'logs-live-zh');
  // Back to where it was.
  await env.selectOption('#level-choice', was);
  await env.click('#level-apply');
  await eventually('the level back', async () => (await env.textContent('#current-level')) === was);

  // Today's system log, downloaded from the link, has the change.
  const href = await env.getAttribute('#log-download', 'href');
  assert.match(href, new RegExp(`^/api/v1/chains/${chainId}/nodes/${node.id}/logs/download\\?type=system&date=\\d{4}-\\d{2}-\\d{2}$`));
  const day = await env.evaluate(async (h) => { const r = await fetch(h); return { status: r.status, text: await r.text() }; }, href);
  assert.equal(day.status, 200);
  assert.ok(day.text.split('\n').some((l) => l && JSON.parse(l).message === 'log level changed'), day.text.slice(0, 500));

  // The keyword rule caught the level change.
  const caught = await eventually('the log keyword alert', async () => {
    const r = await api(env, 'GET', `/api/v1/alerts?rule_id=${keyword}`);
    return r.body.find((a) => a.fired_at);
  });
  assert.match(caught.summary, /log level changed/);

  // The node hangs (stopped by a signal: the platform still wants it
  // running, and its process is still there): the alert fires.
  process.kill(pid, 'SIGSTOP');
  let alertId;
  try {
    await env.click('#nav-alerts');
    await landed(env, '/alerts');
    const firing = env.locator(`#alert-list tr[data-state="firing"]`, { hasText: '节点无响应' });
    await firing.waitFor({ timeout: 45_000 });
    alertId = Number(await firing.getAttribute('data-alert-id'));
    assert.match(await firing.textContent(), new RegExp(node.name));
    await shot(env, 'alerts-firing-zh');

    // The message centre has it, and its link opens the alert.
    await env.click('#nav-messages');
    await landed(env, '/messages');
    const link = env.locator(`a.target[href="/alerts/${alertId}"]`);
    await link.waitFor({ timeout: 15_000 });
    await link.click();
    await landed(env, `/alerts/${alertId}`);
    await env.waitForSelector('#alert-detail[data-state="firing"]');
    await env.waitForSelector('#deliveries tr[data-channel="message"][data-status="sent"]');
    await env.fill('#ack-note', '已联系运维重启');
    await env.click('#ack-submit');
    await env.waitForSelector('#acked-by');
    assert.equal(await env.textContent('#acked-by'), 'env-admin');
    assert.equal(await env.textContent('#ack-note-text'), '已联系运维重启');
    await shot(env, 'alert-detail-zh');
  } finally {
    process.kill(pid, 'SIGCONT');
  }

  // The node answers again: resolved, on the page as well.
  await open(env, base, '/alerts');
  await env.locator(`#alert-list tr[data-alert-id="${alertId}"][data-state="resolved"]`).waitFor({ timeout: 45_000 });
  assert.match(await env.textContent(`#alert-list tr[data-alert-id="${alertId}"] .ack`), /env-admin/);
  await env.selectOption('#alert-state', 'resolved');
  await env.locator(`#alert-list tr[data-alert-id="${alertId}"]`).waitFor();
  assert.equal(await env.locator('#alert-list tr[data-state="firing"]').count(), 0);
  await shot(env, 'alerts-resolved-zh');
  // The rule outside its window stayed quiet through all of it.
  assert.deepEqual((await api(env, 'GET', `/api/v1/alerts?rule_id=${night}`)).body, []);

  // The department's chain auditor: logs and alerts, no change.
  const made = await api(env, 'POST', '/api/v1/users', { username: 'env-auditor', real_name: '审计员', roles: ['chain_auditor'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const auditor = await newPage(rig.chrome.browser, base);
  await firstSignIn(auditor, base, 'env-auditor', made.body.initial_password, 'Ledger-Reader-2026!');
  await auditor.click('#nav-alerts');
  await landed(auditor, '/alerts');
  await auditor.locator(`#alert-list tr[data-alert-id="${alertId}"]`).waitFor();
  await open(auditor, base, `/alerts/${alertId}`);
  await auditor.waitForSelector('#alert-detail');
  assert.equal(await auditor.locator('#ack-form').count(), 0);
  await open(auditor, base, '/alerts?tab=rules');
  await auditor.waitForSelector('#rule-list');
  for (const hidden of ['#new-rule', '.rule-edit', '.rule-toggle']) {
    assert.equal(await auditor.locator(hidden).count(), 0, `${hidden} is hidden from an auditor`);
  }
  await open(auditor, base, `/logs?chain=${chainId}&node=${node.id}&type=system`);
  await auditor.waitForSelector('#log-lines tr[data-level]');
  assert.equal(await auditor.locator('#level-apply').count(), 0);
  await shot(auditor, 'logs-auditor-zh');
  for (const [method, path, body] of [
    ['PUT', `/api/v1/chains/${chainId}/nodes/${node.id}/log-level`, { level: 'debug' }],
    ['POST', `/api/v1/alerts/${alertId}/ack`, { note: 'x' }],
    ['POST', `/api/v1/alert-rules/${hung}/disable`, undefined],
    ['POST', `/api/v1/chains/${chainId}/stop`, {}],
  ]) {
    assert.equal((await api(auditor, method, path, body)).status, 403, `${method} ${path}`);
  }

  // Another department: none of the first one's logs, alerts or rules.
  const tax = await department(admin, base, '税务局', 'tax.gov', 'tax-admin', 'Tax-Bureau-2026!');
  await tax.click('#nav-alerts');
  await landed(tax, '/alerts');
  await tax.waitForSelector('#no-alerts');
  await open(tax, base, '/alerts?tab=rules');
  await tax.waitForSelector('#alert-rules');
  assert.equal(await tax.locator('#rule-list tr', { hasText: '节点无响应' }).count(), 0);
  await open(tax, base, `/alerts/${alertId}`);
  await tax.waitForSelector('main p.error');
  await open(tax, base, `/logs?chain=${chainId}&node=${node.id}`);
  await tax.waitForSelector('#no-target, main p.error');
  assert.equal(await tax.locator('#log-lines').count(), 0);
  await shot(tax, 'alerts-other-department-zh');
  for (const path of [
    `/api/v1/alerts/${alertId}`, `/api/v1/alerts/${alertId}/deliveries`, `/api/v1/alert-rules/${hung}`,
    `/api/v1/chains/${chainId}/nodes/${node.id}/logs`, `/api/v1/chains/${chainId}/nodes/${node.id}/logs/download?type=run&date=2026-01-01`,
  ]) {
    const r = await api(tax, 'GET', path);
    assert.equal(r.status, 404, `${path}: ${JSON.stringify(r.body)}`);
  }
  assert.deepEqual((await api(tax, 'GET', `/api/v1/alerts?chain_id=${chainId}`)).body, []);
});
