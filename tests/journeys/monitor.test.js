// Journey 13, monitoring: a department's dashboard shows its chain's height
// rising as transactions commit (auto refresh, ranges from 15 minutes to 30
// days, full screen), the node-and-host dimension shows the node's process
// and volume, and the chain page draws its own charts. The platform
// dimension is the super admin's only. A chain auditor of the department
// sees the dashboards but no lifecycle action; another department sees
// none of these figures, in the pages or through the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, api, approvedChain, firstSignIn, landed, newDepartment, newPage, open, putThrough, shot, signIn, useRig,
} from '../lib/harness.js';

// Figures every second, so a chart moves within the test's patience.
const rig = useRig(['--metrics-interval-secs', '1']);

/** The number a chart shows last (the highest of its series), or NaN. */
async function last(page, metric) {
  const v = await page.getAttribute(`#charts figure[data-metric="${metric}"]`, 'data-last');
  return v ? Number(v) : NaN;
}

/** A department with its administrator signed in. */
const department = (admin, base, ...rest) => newDepartment(rig.chrome.browser, admin, base, ...rest);

test('dashboard: height rising with auto refresh, ranges, full screen, node dimension, chain page charts; auditor and another department', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  const water = await department(admin, base, '水务局', 'water.gov', 'water-admin', 'Water-Bureau-2026!');
  const chainId = await approvedChain(water, admin, '供水监测', { kind: 'chain', name: 'water-chain', consensus: 'solo',
    suite: 'gm', nodes: 1, resources: { cpu_millis: 100, memory_mb: 128, storage_mb: 256 } });
  const chain = (await api(water, 'GET', `/api/v1/chains/${chainId}`)).body;
  const nodeUrl = chain.nodes[0].api_url;
  await putThrough(nodeUrl, chain.suite, 'monitor-1');

  // The dashboard of the chain, from the menu.
  await water.click('#nav-monitor');
  await landed(water, '/monitor');
  await water.waitForSelector('#dim-chain.active');
  // Every 10 s (the default is 30 s), so the first figures show up soon.
  await water.selectOption('#monitor-refresh', '10');
  await water.waitForFunction(() => {
    const f = document.querySelector('#charts figure[data-metric="height"]');
    return f && Number(f.dataset.last) >= 1;
  }, null, { timeout: 30_000 });
  assert.equal(await water.locator('#dim-platform').count(), 0, 'the platform dimension is the super admin\'s');
  for (const m of ['height', 'tps', 'pending', 'block_interval_seconds', 'peers', 'up']) {
    assert.equal(await water.locator(`#charts figure[data-metric="${m}"]`).count(), 1, m);
  }
  assert.equal(await water.getAttribute('#charts figure[data-metric="up"] li', 'data-series'), chain.nodes[0].name);

  // Auto refresh every 10 s over the last 15 minutes: more transactions, and the chart follows by itself.
  await water.click('#range-15m');
  await water.waitForSelector('#range-15m.active');
  const before = await last(water, 'height');
  for (let i = 2; i <= 4; i += 1) await putThrough(nodeUrl, chain.suite, `monitor-${i}`);
  await water.waitForFunction((h) => {
    const f = document.querySelector('#charts figure[data-metric="height"]');
    return f && Number(f.dataset.last) >= h + 3;
  }, before, { timeout: 40_000 });
  const after = await last(water, 'height');
  assert.ok(after >= before + 3, `height ${before} -> ${after}`);
  await shot(water, 'monitor-chain-zh');

  // Every range up to 30 days answers, from coarser stored figures for the longer ones.
  for (const r of ['1h', '6h', '24h', '7d', '30d']) {
    await water.click(`#range-${r}`);
    await water.waitForSelector(`#range-${r}.active`);
    await water.waitForFunction(() => document.querySelector('#charts figure[data-metric="height"]') !== null);
  }
  const long = await api(water, 'GET', `/api/v1/metrics/chains/${chainId}?metric=height&from=${Date.now() - 30 * 86_400_000}`);
  assert.equal(long.status, 200, JSON.stringify(long.body));
  assert.equal(long.body.resolution, '1h');

  // Full screen, and back.
  await water.click('#monitor-fullscreen');
  await water.waitForSelector('#monitor.fullscreen');
  await shot(water, 'monitor-fullscreen');
  await water.click('#monitor-fullscreen');
  await water.waitForSelector('#monitor:not(.fullscreen)');

  // The node and its host: the process's CPU and memory, the volume, the network.
  await water.click('#dim-node');
  await water.waitForSelector('#monitor-node');
  await water.waitForFunction(() => {
    const f = document.querySelector('#charts figure[data-metric="process_resident_memory_bytes"]');
    return f && Number(f.dataset.last) > 1_000_000;
  }, null, { timeout: 30_000 });
  for (const m of ['cpu_cores', 'disk_used_bytes', 'disk_free_bytes', 'network_receive_bytes', 'process_open_fds']) {
    assert.equal(await water.locator(`#charts figure[data-metric="${m}"]`).count(), 1, m);
  }
  assert.ok(await last(water, 'disk_free_bytes') > 0);
  await shot(water, 'monitor-node-zh');

  // The chain page draws its own charts and links to the dashboard.
  await open(water, base, `/chains/${chainId}`);
  await water.waitForFunction(() => {
    const f = document.querySelector('#chain-charts figure[data-metric="height"]');
    return f && Number(f.dataset.last) >= 4;
  }, null, { timeout: 30_000 });
  assert.equal(await water.getAttribute('#chain-dashboard', 'href'), `/monitor?chain=${chainId}`);
  await shot(water, 'chain-charts-zh');

  // The super admin has the platform's own dimension, in English here.
  await admin.evaluate(() => { document.cookie = 'govchain_lang=en; path=/'; });
  await open(admin, base, '/monitor?view=platform&range=15m');
  await admin.waitForSelector('#dim-platform.active');
  await admin.waitForFunction(() => {
    const f = document.querySelector('#charts figure[data-metric="process_resident_memory_bytes"]');
    return f && Number(f.dataset.last) > 1_000_000;
  }, null, { timeout: 30_000 });
  assert.match(await admin.textContent('#monitor-controls'), /Auto refresh/);
  await shot(admin, 'monitor-platform-en');
  await admin.evaluate(() => { document.cookie = 'govchain_lang=zh; path=/'; });
  const platformByDept = await api(water, 'GET', '/api/v1/metrics/platform');
  assert.equal(platformByDept.status, 403);

  // The department's chain auditor: the dashboards, no lifecycle action.
  const made = await api(water, 'POST', '/api/v1/users', { username: 'water-auditor', real_name: '审计员', roles: ['chain_auditor'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const auditor = await newPage(rig.chrome.browser, base);
  await firstSignIn(auditor, base, 'water-auditor', made.body.initial_password, 'Ledger-Reader-2026!');
  await auditor.click('#nav-monitor');
  await landed(auditor, '/monitor');
  await auditor.waitForFunction(() => Number(document.querySelector('#charts figure[data-metric="height"]')?.dataset.last) >= 4,
    null, { timeout: 30_000 });
  await open(auditor, base, `/chains/${chainId}`);
  await auditor.waitForSelector('#chain-charts figure[data-metric="height"]');
  for (const hidden of ['#chain-actions', '#node-list button', '#add-node']) {
    assert.equal(await auditor.locator(hidden).count(), 0, `${hidden} is hidden from an auditor`);
  }
  assert.equal((await api(auditor, 'POST', `/api/v1/chains/${chainId}/stop`, {})).status, 403);

  // Another department sees none of it: not in its chain list, not by the chain's id.
  const tax = await department(admin, base, '税务局', 'tax.gov', 'tax-admin', 'Tax-Bureau-2026!');
  await open(tax, base, `/monitor?chain=${chainId}`);
  await tax.waitForSelector('#monitor p.error, #no-target', { timeout: 30_000 });
  assert.equal(await tax.locator(`#monitor-chain option[value="${chainId}"]`).count(), 0);
  assert.equal(await tax.locator('#charts').count(), 0);
  await shot(tax, 'monitor-other-department-zh');
  for (const path of [`/api/v1/metrics/chains/${chainId}`, `/api/v1/metrics/nodes/${chainId}/${chain.nodes[0].id}`]) {
    const r = await api(tax, 'GET', path);
    assert.equal(r.status, 404, `${path}: ${JSON.stringify(r.body)}`);
  }
});
