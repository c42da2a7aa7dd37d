// Journey 2, request to running: a department requests a 4-node chain; the
// request appears in the approver's queue without a reload; the approver
// approves with an opinion; the department watches progress until the
// chain runs and sees its height grow; a second request is rejected and
// the department reads the opinion; adding a node beyond the quota the
// approval granted is refused with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, api, firstSignIn, landed, newPage, open, putThrough, shot, signIn, useRig,
} from '../lib/harness.js';

const rig = useRig();

/** Fills the request form for a new chain and submits it; resolves to the request id. */
async function requestChain(page, name, nodes, purpose) {
  await page.selectOption('#request-form select[name=kind]', 'chain');
  await page.fill('#request-form input[name=name]', name);
  await page.fill('#request-form input[name=nodes]', String(nodes));
  await page.fill('#request-form textarea[name=purpose]', purpose);
  await page.click('#request-form button[type=submit]');
  const link = await page.waitForSelector('#request-submitted a', { timeout: 30_000 });
  return Number((await link.textContent()).replace('#', ''));
}

test('request to running: live approval queue, progress, height, rejection opinion, quota refusal', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');

  // The platform creates the land bureau; its admin signs in for the first time.
  const created = await api(admin, 'POST', '/api/v1/orgs', {
    name: '国土资源局', domain: 'land.gov', description: '', admin_username: 'land-admin', admin_real_name: '王五',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const dept = await newPage(rig.chrome.browser, base);
  await firstSignIn(dept, base, 'land-admin', created.body.initial_password, 'Land-Bureau-2026!');

  // The approver watches the queue; nothing is pending yet.
  await admin.click('#nav-approvals');
  await landed(admin, '/approvals');
  await admin.waitForSelector('#queue-empty');

  // The department requests a 4-node chain; the form shows the recommended minimum.
  await dept.click('#nav-requests');
  await landed(dept, '/requests');
  assert.match(await dept.textContent('#request-form'), /推荐 500/);
  // A bad block policy is refused next to its field, and the form keeps what was typed.
  await dept.fill('#request-form input[name=max_wait_ms]', '30000');
  await dept.fill('#request-form input[name=name]', 'land-registry');
  await dept.fill('#request-form textarea[name=purpose]', '不动产登记上链');
  await dept.click('#request-form button[type=submit]');
  await dept.waitForSelector('#max_wait_ms-error', { timeout: 30_000 });
  assert.equal(await dept.inputValue('#request-form input[name=name]'), 'land-registry');
  await shot(dept, 'journey2-field-refused');
  await dept.fill('#request-form input[name=max_wait_ms]', '2');
  const first = await requestChain(dept, 'land-registry', 4, '不动产登记上链');

  // The request appears in the approver's queue without a reload.
  const row = admin.locator(`#queue tr[data-id="${first}"]`);
  await row.waitFor({ timeout: 30_000 });
  await shot(admin, 'journey2-approval-queue');
  await row.locator('input[name=opinion]').fill('同意，按申请配置部署');
  await row.locator('button.approve').click();
  await row.waitFor({ state: 'detached', timeout: 30_000 });

  // The department follows the request until its chain runs.
  await open(dept, base, `/requests/${first}`);
  await dept.waitForSelector('#request[data-status="running"]', { timeout: 180_000 });
  assert.match(await dept.textContent('#timeline'), /同意，按申请配置部署/);
  await shot(dept, 'journey2-request-running');
  await dept.click('#request-chain');
  await dept.waitForURL((u) => u.pathname.startsWith('/chains/'));
  const chainId = Number(new URL(dept.url()).pathname.split('/').pop());
  await dept.waitForSelector('#node-list tbody tr:nth-child(4)');
  await dept.waitForFunction(() => document.querySelector('#chain-height')?.textContent.trim() !== '', null, { timeout: 30_000 });
  const h0 = Number(await dept.textContent('#chain-height'));
  const chain = await api(dept, 'GET', `/api/v1/chains/${chainId}`);
  await putThrough(chain.body.nodes[0].api_url, chain.body.suite, 'journey2');
  await dept.waitForFunction((h) => Number(document.querySelector('#chain-height')?.textContent) > h, h0, { timeout: 30_000 });
  assert.ok(await dept.locator('#chain-leader').textContent());
  await dept.waitForFunction(() => document.querySelector('#chain-health')?.textContent.trim() === '正常', null, { timeout: 30_000 });
  await shot(dept, 'journey2-chain-detail');
  // The department switches its running chain to HotStuff from the page;
  // the chain goes on committing under the new engine.
  await dept.selectOption('#switch-engine select[name=consensus]', 'hotstuff');
  await dept.click('#switch-engine button[type=submit]');
  await dept.waitForSelector('#switch-done', { timeout: 90_000 });
  assert.equal((await dept.textContent('#chain-consensus')).trim(), 'hotstuff');
  const h1 = Number(await dept.textContent('#chain-height'));
  await putThrough(chain.body.nodes[1].api_url, chain.body.suite, 'journey2-hotstuff');
  await dept.waitForFunction((h) => Number(document.querySelector('#chain-height')?.textContent) > h, h1, { timeout: 30_000 });
  await shot(dept, 'journey2-switched-to-hotstuff');
  // The department's home shows the chain healthy, with its live height.
  await open(dept, base, '/');
  const homeRow = dept.locator('#my-chains tr[data-name="land-registry"][data-health="healthy"]');
  await homeRow.waitFor({ timeout: 30_000 });
  assert.ok(Number(await homeRow.locator('td.height').textContent()) > h0, 'the home page shows the new height');

  // A second request is rejected; the department reads the opinion.
  await open(dept, base, '/requests');
  const second = await requestChain(dept, 'land-archive', 2, '档案链');
  await open(admin, base, '/approvals');
  const row2 = admin.locator(`#queue tr[data-id="${second}"]`);
  await row2.waitFor({ timeout: 30_000 });
  await row2.locator('input[name=opinion]').fill('请与不动产登记链合并');
  await row2.locator('button.reject').click();
  await row2.waitFor({ state: 'detached', timeout: 30_000 });
  await open(dept, base, `/requests/${second}`);
  await dept.waitForSelector('#request[data-status="rejected"]', { timeout: 30_000 });
  assert.match(await dept.textContent('#timeline'), /请与不动产登记链合并/);
  await shot(dept, 'journey2-rejected-with-opinion');

  // The approval granted four nodes, all in use: a fifth is refused with the reason.
  await open(dept, base, `/chains/${chainId}`);
  await dept.click('#add-node button[type=submit]');
  assert.match(await dept.textContent('#add-node-error', { timeout: 30_000 }), /超出资源配额/);
  const nodes = await api(dept, 'GET', `/api/v1/chains/${chainId}`);
  assert.equal(nodes.body.nodes.length, 4, 'no node was added');
  // The platform's quota overview shows the land bureau's grant fully used.
  await open(admin, base, '/quotas');
  const landQuota = admin.locator('#quotas tr[data-domain="land.gov"]');
  await landQuota.waitFor({ timeout: 30_000 });
  assert.match(await landQuota.textContent(), /4 \/ 4/);
  await shot(admin, 'journey2-quotas');

  // The requests list pages and filters.
  await open(dept, base, '/requests');
  await dept.waitForSelector(`#requests tr[data-id="${first}"]`);
  await dept.selectOption('#status-filter', 'rejected');
  await dept.waitForFunction((id) => !document.querySelector(`#requests tr[data-id="${id}"]`), first);
  await dept.waitForSelector(`#requests tr[data-id="${second}"]`);

  assert.deepEqual(admin.problems, []);
  assert.deepEqual(dept.problems, []);
});
