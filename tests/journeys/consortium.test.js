// Journey 3, consortium: the invalid invitations each fail with their own
// message; a valid one appears in the other department's message centre
// without a reload; it accepts, requests a node, the operator approves, and
// the node shows in the chain's node list, caught up. Journey 4,
// permissions: a chain auditor sees no lifecycle buttons and the same
// action sent directly to the API is refused; the chain's operator restarts
// a node after confirming.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, api, firstSignIn, landed, newPage, open, shot, signIn, useRig,
} from '../lib/harness.js';

const rig = useRig();
/** What journey 3 leaves for journey 4. */
const shared = {};

/** Creates an organization with its administrator; resolves to the one-time password. */
async function createOrg(admin, name, domain, adminUser) {
  const r = await api(admin, 'POST', '/api/v1/orgs', {
    name, domain, description: '', admin_username: adminUser, admin_real_name: '管理员',
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.initial_password;
}

/** Approves a pending request in the approval queue, with an opinion. */
async function approveInQueue(admin, base, id) {
  await open(admin, base, '/approvals');
  const row = admin.locator(`#queue tr[data-id="${id}"]`);
  await row.waitFor({ timeout: 30_000 });
  await row.locator('input[name=opinion]').fill('同意');
  await row.locator('button.approve').click();
  await row.waitFor({ state: 'detached', timeout: 30_000 });
}

/** Sends an invitation from the chain page's form; resolves to the outcome line's text. */
async function invite(page, domain) {
  await page.fill('#invite input[name=org_domain]', domain);
  await page.click('#invite button[type=submit]');
  const outcome = page.locator('#invite-error, #invite-sent');
  await outcome.first().waitFor({ timeout: 30_000 });
  return outcome.first().textContent();
}

test('consortium: three refusals in place, a live invitation, a new member node caught up', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  const landPw = await createOrg(admin, '自然资源局', 'land.gov', 'land-admin');
  const taxPw = await createOrg(admin, '税务局', 'tax.gov', 'tax-admin');
  await createOrg(admin, '审计局', 'audit.gov', 'audit-admin');
  const land = await newPage(rig.chrome.browser, base);
  await firstSignIn(land, base, 'land-admin', landPw, 'Land-Bureau-2026!');
  const tax = await newPage(rig.chrome.browser, base);
  await firstSignIn(tax, base, 'tax-admin', taxPw, 'Tax-Bureau-2026!');

  // The land bureau's chain: two nodes of at most three.
  const req = await api(land, 'POST', '/api/v1/requests', {
    purpose: '不动产与税务数据共享',
    spec: {
      kind: 'chain', name: 'shared-registry', consensus: 'raft', suite: 'gm', nodes: 2, max_nodes: 3,
      resources: { cpu_millis: 500, memory_mb: 256, storage_mb: 1024 },
    },
  });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  await approveInQueue(admin, base, req.body.id);
  await open(land, base, `/requests/${req.body.id}`);
  await land.waitForSelector('#request[data-status="running"]', { timeout: 180_000 });
  const chainId = Number((await land.textContent('#request-chain')).replace('#', ''));
  shared.chainId = chainId;

  // The tax bureau keeps its message centre open.
  await tax.click('#nav-messages');
  await landed(tax, '/messages');
  await tax.waitForSelector('#no-messages');

  // The refusals, each with its own message; what was typed stays.
  await open(land, base, `/chains/${chainId}`);
  assert.match(await invite(land, 'nobody.gov'), /没有使用该域名的已审核组织/);
  assert.equal(await land.inputValue('#invite input[name=org_domain]'), 'nobody.gov');
  assert.match(await invite(land, 'land.gov'), /已是本链成员/);
  assert.match(await invite(land, 'Not A Domain'), /域名格式不正确/);
  await shot(land, 'journey3-invitation-refused');
  assert.match(await invite(land, 'tax.gov'), /邀请已发送/);
  assert.match(await invite(land, 'tax.gov'), /正等待其答复/);

  // The invitation reaches the tax bureau's message centre without a reload.
  const note = tax.locator('#messages li[data-kind="invitation_received"]');
  await note.waitFor({ timeout: 30_000 });
  assert.match(await note.textContent(), /收到链邀请/);
  await shot(tax, 'journey3-message-centre');
  // The department's home lists the invitation and the message too.
  await open(tax, base, '/');
  await tax.waitForSelector('#my-invitations li a', { timeout: 30_000 });
  assert.match(await tax.textContent('#my-invitations'), /shared-registry · land\.gov/);
  assert.match(await tax.textContent('#latest-messages'), /收到链邀请/);
  await shot(tax, 'journey3-home');
  await open(tax, base, '/messages');
  await note.locator('a.target').click();
  await landed(tax, '/invitations');
  const inv = tax.locator('#invitations tr[data-chain="shared-registry"]');
  await inv.waitFor({ timeout: 30_000 });
  assert.equal((await inv.locator('td.counterparty').textContent()).trim(), 'land.gov');
  await shot(tax, 'journey3-invitation');
  await inv.locator('button.accept').click();
  await tax.waitForSelector('#invitations tr[data-chain="shared-registry"][data-status="accepted"]', { timeout: 30_000 });
  // Read, the message leaves the unread list.
  await open(tax, base, '/messages');
  await tax.locator('#messages li[data-kind="invitation_received"] button.mark-read').click();
  await tax.waitForSelector('#messages li[data-kind="invitation_received"]:not(.unread)');

  // The tax bureau, now a member, requests one node of its own.
  await open(tax, base, '/requests');
  await tax.selectOption('#request-form select[name=kind]', 'nodes');
  await tax.waitForSelector(`#request-form select[name=chain_id] option[value="${chainId}"]`, { state: 'attached' });
  await tax.selectOption('#request-form select[name=chain_id]', String(chainId));
  await tax.fill('#request-form input[name=count]', '1');
  await tax.fill('#request-form textarea[name=purpose]', '税务局加入共享链');
  await tax.click('#request-form button[type=submit]');
  const link = await tax.waitForSelector('#request-submitted a', { timeout: 30_000 });
  const nodeReq = Number((await link.textContent()).replace('#', ''));
  await approveInQueue(admin, base, nodeReq);
  await open(tax, base, `/requests/${nodeReq}`);
  await tax.waitForSelector('#request[data-status="running"]', { timeout: 180_000 });

  // The new node shows in the chain's node list and catches up.
  await open(land, base, `/chains/${chainId}`);
  await land.waitForSelector('#node-list tbody tr:nth-child(3)', { timeout: 30_000 });
  await land.waitForFunction(() => {
    const heights = [...document.querySelectorAll('#node-list tbody tr td.height')].map((td) => td.textContent.trim());
    return heights.length === 3 && heights.every((h) => h !== '' && h === heights[0]);
  }, null, { timeout: 60_000 });
  assert.match(await land.textContent('#member-list'), /tax\.gov/);
  await shot(land, 'journey3-member-node');

  // At its limit of three nodes, the chain refuses a third organization.
  assert.match(await invite(land, 'audit.gov'), /节点上限/);
  const chain = await api(land, 'GET', `/api/v1/chains/${chainId}`);
  assert.equal(chain.body.nodes.length, 3);

  shared.land = land;
  assert.deepEqual(admin.problems, []);
  assert.deepEqual(tax.problems, []);
});

test('permissions: a chain auditor sees no lifecycle buttons and the API refuses the action', async () => {
  assert.ok(shared.chainId, 'journey 3 made the chain');
  const base = rig.platform.console;
  const { land, chainId } = shared;
  // A role of the bureau's own from the permission picker, which offers no platform permission.
  await open(land, base, '/roles');
  await land.waitForSelector('#role-perms input[value="chain_view"]');
  assert.equal(await land.locator('#role-perms input[value="platform_admin"]').count(), 0);
  await land.fill('#role-form input[name=name]', 'evidence-reader');
  await land.check('#role-perms input[value="chain_view"]');
  await land.check('#role-perms input[value="audit_view"]');
  await land.click('#role-form button[type=submit]');
  await land.waitForSelector('#roles tr[data-name="evidence-reader"]', { timeout: 30_000 });
  assert.match(await land.textContent('#roles tr[data-name="evidence-reader"] td.perms'), /查看链与节点、查看操作日志/);
  await land.fill('#role-form input[name=name]', 'evidence-reader');
  await land.click('#role-form button[type=submit]');
  await land.waitForSelector('#name-error', { timeout: 30_000 });
  await shot(land, 'journey4-roles');

  // The land bureau's administrator creates the auditor on the users page; the one-time password shows once.
  await open(land, base, '/users');
  await land.fill('#user-form input[name=username]', 'land-auditor');
  await land.fill('#user-form input[name=real_name]', '审计员');
  await land.check('#user-roles input[value="chain_auditor"]');
  await land.click('#user-form button[type=submit]');
  const initial = (await land.textContent('#initial-password', { timeout: 30_000 })).trim();
  await land.waitForSelector('#users tr[data-name="land-auditor"]');
  await shot(land, 'journey4-user-created');
  // The same name again is refused next to its field.
  await land.fill('#user-form input[name=username]', 'land-auditor');
  await land.fill('#user-form input[name=real_name]', '审计员');
  await land.click('#user-form button[type=submit]');
  await land.waitForSelector('#username-error', { timeout: 30_000 });
  const auditor = await newPage(rig.chrome.browser, base);
  await firstSignIn(auditor, base, 'land-auditor', initial, 'Ledger-Reader-2026!');
  assert.equal(await auditor.locator('#nav-users').count(), 0, 'no user administration for an auditor');

  await open(auditor, base, `/chains/${chainId}`);
  await auditor.waitForSelector('#node-list tbody tr:nth-child(3)');
  for (const hidden of ['#chain-actions', '#node-list button', '#add-node', '#invite', '#policy button[type=submit]']) {
    assert.equal(await auditor.locator(hidden).count(), 0, `${hidden} is hidden from an auditor`);
  }
  assert.ok(await auditor.locator('#policy input[name=max_txs]').isDisabled());
  // The auditor may still download a node's certificates and configuration.
  assert.ok(await auditor.locator('#node-list a.download').count() > 0);
  await shot(auditor, 'journey4-auditor-chain');
  const stop = await api(auditor, 'POST', `/api/v1/chains/${chainId}/stop`, {});
  assert.equal(stop.status, 403, JSON.stringify(stop.body));
  const node = (await api(auditor, 'GET', `/api/v1/chains/${chainId}`)).body.nodes[0];
  const restart = await api(auditor, 'POST', `/api/v1/chains/${chainId}/nodes/${node.id}/restart`, {});
  assert.equal(restart.status, 403, JSON.stringify(restart.body));
  const still = await api(auditor, 'GET', `/api/v1/chains/${chainId}`);
  assert.equal(still.body.state, 'running');
  // The auditor finds the refused attempt in the operation log and verifies its chain of hashes.
  await auditor.click('#nav-audit');
  await landed(auditor, '/audit');
  await auditor.fill('#audit-filter input[name=actor]', 'land-auditor');
  await auditor.fill('#audit-filter input[name=result]', 'forbidden');
  await auditor.click('#audit-filter button[type=submit]');
  await auditor.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#audit tbody tr')];
    return rows.length === 2 && rows.every((r) => r.dataset.result === 'forbidden');
  }, null, { timeout: 30_000 });
  assert.match(await auditor.textContent('#audit'), /chains\/\{id\}\/stop/);
  // The log pages by id: the next page holds only older entries.
  const newest = await api(auditor, 'GET', '/api/v1/audit?limit=2');
  assert.equal(newest.body.length, 2, JSON.stringify(newest.body));
  const older = await api(auditor, 'GET', `/api/v1/audit?limit=2&before=${newest.body[1].id}`);
  assert.ok(older.body.length > 0 && older.body.every((e) => e.id < newest.body[1].id), JSON.stringify(older.body));
  await auditor.click('#audit-verify');
  await auditor.waitForSelector('#audit-verified', { timeout: 30_000 });
  await shot(auditor, 'journey4-audit-log');

  // The chain's operator sees the buttons; a cancelled question does nothing, a confirmed one restarts the node.
  await open(land, base, `/chains/${chainId}`);
  const row = land.locator(`#node-list tr[data-name="${node.name}"]`);
  await row.waitFor();
  await land.click(`[id="${node.name}-restart"]`);
  // The page refreshes every two seconds; the open question stays through it.
  await land.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/chains/${chainId}`);
  await land.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/chains/${chainId}`);
  assert.ok(await land.locator(`[id="${node.name}-restart-confirm"]`).isVisible());
  await land.click(`[id="${node.name}-restart-cancel"]`);
  assert.equal(await land.locator('#action-done').count(), 0);
  await land.click(`[id="${node.name}-restart"]`);
  await shot(land, 'journey4-confirm-restart');
  await land.click(`[id="${node.name}-restart-confirm"]`);
  const outcome = await land.waitForSelector('#action-done, #action-error', { timeout: 60_000 });
  assert.equal(await outcome.getAttribute('id'), 'action-done', await outcome.textContent());
  await land.waitForSelector(`#node-list tr[data-name="${node.name}"][data-state="running"]`, { timeout: 60_000 });

  // Frozen on the users page (asked first), the auditor's session ends at once.
  await open(land, base, '/users');
  await land.click('[id="land-auditor-freeze"]');
  await land.click('[id="land-auditor-freeze-confirm"]');
  await land.waitForSelector('#users tr[data-name="land-auditor"][data-status="frozen"]', { timeout: 30_000 });
  const refused = await api(auditor, 'GET', `/api/v1/chains/${chainId}`);
  assert.equal(refused.status, 401, JSON.stringify(refused.body));
  assert.deepEqual(auditor.problems, []);
  assert.deepEqual(land.problems, []);
});
