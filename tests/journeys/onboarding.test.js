// Journey 1, onboarding: the super admin signs in and creates an
// organization with its admin; the new admin signs in and is made to
// change the password; a second organization with the same domain is
// refused next to the domain field, with what was typed kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, hydrated, landed, newPage, open, shot, signIn, text, useRig,
} from '../lib/harness.js';

const rig = useRig();

test('onboarding: organization, its admin, forced password change, duplicate domain refused', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);

  // The super admin signs in (Chinese is the default) and sees the overview.
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  assert.equal(await admin.getAttribute('html', 'lang'), 'zh-CN');
  await admin.waitForSelector('#pending');
  await admin.waitForSelector('#org-counts');

  // Creates an organization with its admin; the initial password is shown once.
  await admin.click('#nav-orgs');
  await admin.waitForURL((u) => u.pathname === '/orgs');
  await admin.waitForSelector('#create-org');
  await admin.fill('#create-org input[name=name]', '税务局');
  await admin.fill('#create-org input[name=domain]', 'tax.gov');
  await admin.fill('#create-org input[name=description]', '市税务局');
  await admin.fill('#create-org input[name=admin_username]', 'tax-admin');
  await admin.fill('#create-org input[name=admin_real_name]', '张三');
  await admin.click('#create-org button[type=submit]');
  const initial = (await admin.textContent('#initial-password', { timeout: 30_000 })).trim();
  assert.ok(initial.length >= 10, `initial password shown: ${initial}`);
  await admin.waitForSelector('tr[data-domain="tax.gov"]');

  // A second organization with the same domain is refused at the domain field.
  await admin.fill('#create-org input[name=name]', '税务局二');
  await admin.fill('#create-org input[name=domain]', 'tax.gov');
  await admin.fill('#create-org input[name=admin_username]', 'tax-admin2');
  await admin.fill('#create-org input[name=admin_real_name]', '李四');
  await admin.click('#create-org button[type=submit]');
  const refusal = await admin.textContent('#domain-error', { timeout: 30_000 });
  assert.match(refusal, /域名已被其他组织使用/);
  assert.equal(await admin.inputValue('#create-org input[name=name]'), '税务局二', 'what was typed is kept');
  assert.equal(await admin.inputValue('#create-org input[name=admin_username]'), 'tax-admin2');
  assert.equal(await admin.locator('tr[data-domain="tax.gov"]').count(), 1, 'no second organization');
  await shot(admin, 'journey1-duplicate-domain-refused');

  // A department that registered itself awaits review; the platform approves it with an opinion.
  const registered = await admin.evaluate(async () => {
    const r = await fetch('/api/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        org_name: '统计局', domain: 'stats.gov', description: '市统计局', username: 'stats-admin',
        real_name: '赵六', password: 'Stats-Bureau-2026!',
      }),
    });
    return r.status;
  });
  assert.equal(registered, 201);
  await open(admin, base, '/orgs');
  const pendingOrg = admin.locator('tr[data-domain="stats.gov"][data-status="pending"]');
  await pendingOrg.waitFor({ timeout: 30_000 });
  await pendingOrg.locator('input[name=opinion]').fill('材料齐全，同意');
  await shot(admin, 'journey1-registration-review');
  await pendingOrg.locator('button.approve').click();
  await admin.waitForSelector('tr[data-domain="stats.gov"][data-status="active"]', { timeout: 30_000 });

  // The new admin signs in and is made to change the password first.
  const dept = await newPage(rig.chrome.browser, base);
  await signIn(dept, base, 'tax-admin', initial);
  await landed(dept, '/password');
  await dept.waitForSelector('#forced');
  // Going elsewhere leads back to the password page.
  await open(dept, base, '/');
  await landed(dept, '/password');
  await dept.fill('#password input[name=old]', initial);
  await dept.fill('#password input[name=new]', 'weak');
  await dept.fill('#password input[name=confirm]', 'weak');
  await dept.click('#password button[type=submit]');
  assert.match(await dept.textContent('#password-error', { timeout: 30_000 }), /新密码须为/);
  const fresh = 'Tax-Bureau-2026!';
  await dept.fill('#password input[name=new]', fresh);
  await dept.fill('#password input[name=confirm]', fresh);
  await dept.click('#password button[type=submit]');
  await landed(dept, '/');
  await dept.waitForSelector('#my-chains');
  await dept.waitForSelector('#quota table');
  assert.match(await text(dept), /我的工作台 · 税务局/);

  // The new admin submits the real-name verification from the account
  // page: a mistyped number is refused at that field with what was typed
  // kept; the corrected one awaits review.
  await dept.click('#nav-account');
  await landed(dept, '/account');
  await dept.waitForSelector('#identity-status[data-status="unverified"]');
  await dept.fill('#identity-form input[name=real_name]', '张三');
  await dept.fill('#identity-form input[name=number]', '110105194912310021');
  await dept.click('#identity-form button[type=submit]');
  assert.match(await dept.textContent('#number-error', { timeout: 30_000 }), /校验位/);
  assert.equal(await dept.inputValue('#identity-form input[name=real_name]'), '张三', 'what was typed is kept');
  await dept.fill('#identity-form input[name=number]', '11010519491231002X');
  await dept.click('#identity-form button[type=submit]');
  await dept.waitForSelector('#identity-status[data-status="pending"]', { timeout: 30_000 });
  assert.match(await dept.textContent('#identity-status'), /110105\*{8}002X/);
  await shot(dept, 'journey1-identity-submitted');

  // The platform reviews it from the users page, filtered to those awaiting review.
  await open(admin, base, '/users?identity=pending');
  const pendingUser = admin.locator('#users tr[data-name="tax-admin"][data-identity="pending"]');
  await pendingUser.waitFor({ timeout: 30_000 });
  assert.equal(await admin.locator('#users tbody tr').count(), 1, 'only users awaiting review');
  await pendingUser.locator('input[name=opinion]').fill('证件信息一致');
  await shot(admin, 'journey1-identity-review');
  await pendingUser.locator('button.approve').click();
  await pendingUser.waitFor({ state: 'detached', timeout: 30_000 });
  await admin.selectOption('#identity-filter', 'verified');
  await admin.waitForSelector('#users tr[data-name="tax-admin"][data-identity="verified"]', { timeout: 30_000 });
  await open(dept, base, '/account');
  await dept.waitForSelector('#identity-status[data-status="verified"]');
  assert.match(await dept.textContent('#identity-opinion'), /证件信息一致/);
  assert.equal(await dept.locator('#identity-form').count(), 0, 'nothing more to submit');

  // Signing out ends the session; the new password works.
  await dept.click('#sign-out');
  await landed(dept, '/login');
  await dept.waitForSelector('#notice');
  await open(dept, base, '/');
  await landed(dept, '/login');
  await signIn(dept, base, 'tax-admin', fresh);
  await landed(dept, '/');

  for (const p of [admin, dept]) assert.deepEqual(p.problems, [], 'no errors in the page');
});

test('time to interactive of the home page on loopback (reported, not asserted)', async (t) => {
  const base = rig.platform.console;
  const page = await newPage(rig.chrome.browser, base);
  await signIn(page, base, 'admin', ADMIN_PASSWORD);
  await landed(page, '/');
  const hydratedMs = [];
  const dataMs = [];
  for (let i = 0; i < 5; i++) {
    await open(page, base, '/');
    await page.waitForSelector('#org-counts');
    hydratedMs.push(Number(await page.getAttribute('body', 'data-hydrated-ms')));
    dataMs.push(await page.evaluate(() => performance.now()));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  t.diagnostic(`home page, median of 5 loads: hydrated ${median(hydratedMs).toFixed(0)} ms, data shown ${median(dataMs).toFixed(0)} ms after navigation start`);
});
