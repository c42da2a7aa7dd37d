// Journey 5, language: every page in Chinese and in English, with no string
// of the other language on it; a screenshot of each. Also the sign-in
// page's notices (signed out, session expired).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, api, hydrated, landed, newPage, open, shot, signIn, startPlatform, text, useRig,
} from '../lib/harness.js';
import { en, zh } from '../lib/i18n.js';

const CJK = /[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]/;

const rig = useRig();

test('the tables have the same keys', () => {
  assert.ok(zh.size > 50, `read ${zh.size} keys`);
  assert.deepEqual([...zh.keys()].sort(), [...en.keys()].sort());
});

/** Asserts the page is wholly in `lang`: the html tag, and no string of the other table. */
async function oneLanguage(page, lang, what) {
  assert.equal(await page.getAttribute('html', 'lang'), lang === 'zh' ? 'zh-CN' : 'en', what);
  // The switch names the other language in that language, on purpose.
  const body = (await text(page)).replace(lang === 'zh' ? 'English' : '中文', '');
  if (lang === 'en') {
    const line = body.split('\n').find((l) => CJK.test(l));
    assert.equal(line, undefined, `${what}: Chinese on the English page`);
  } else {
    for (const [key, s] of en) {
      if (key === 'SwitchLang' || s.length < 4) continue;
      const re = new RegExp(`(^|[^A-Za-z])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z])`);
      assert.ok(!re.test(body), `${what}: English string ${key} ("${s}") on the Chinese page`);
    }
  }
  const title = await page.title();
  assert.equal(title, (lang === 'zh' ? zh : en).get('Product'), `${what}: title`);
}

for (const lang of ['zh', 'en']) {
  test(`every page in ${lang}`, async () => {
    const base = rig.platform.console;
    const t = lang === 'zh' ? zh : en;
    const page = await newPage(rig.chrome.browser, base, lang);
    const see = async (name, ready) => {
      await page.waitForSelector(ready, { timeout: 30_000 });
      await oneLanguage(page, lang, name);
      await shot(page, `${lang}-${name}`);
    };

    await open(page, base, '/login');
    await see('login', '#login');
    await open(page, base, '/login?signed_out=1');
    await see('login-signed-out', '#notice');
    await page.fill('#login input[name=username]', 'admin');
    await page.fill('#login input[name=password]', 'wrong-password-1');
    await page.click('#login button[type=submit]');
    await see('login-wrong-password', '#login-error');

    await signIn(page, base, 'admin', ADMIN_PASSWORD);
    await landed(page, '/');
    await see('home-platform', '#org-counts');
    await page.waitForSelector('#operations table');
    await oneLanguage(page, lang, 'home-platform with data');
    await shot(page, `${lang}-home-platform`);

    await open(page, base, '/orgs');
    await see('orgs', '#create-org');
    const domain = `lang-${lang}.gov`;
    await page.fill('#create-org input[name=name]', `Bureau ${lang}`);
    await page.fill('#create-org input[name=domain]', domain);
    await page.fill('#create-org input[name=admin_username]', `admin-${lang}`);
    await page.fill('#create-org input[name=admin_real_name]', `Admin ${lang}`);
    await page.click('#create-org button[type=submit]');
    await see('orgs-created', '#initial-password');
    const initial = (await page.textContent('#initial-password')).trim();
    await page.fill('#create-org input[name=name]', 'Another');
    await page.fill('#create-org input[name=domain]', domain);
    await page.fill('#create-org input[name=admin_username]', `other-${lang}`);
    await page.fill('#create-org input[name=admin_real_name]', 'Other');
    await page.click('#create-org button[type=submit]');
    await see('orgs-domain-taken', '#domain-error');
    assert.equal((await page.textContent('#domain-error')).trim(), t.get('DomainTaken'));

    await open(page, base, '/password');
    await see('password', '#password');
    await open(page, base, '/account');
    await see('account', '#identity-form');
    await page.fill('#identity-form input[name=number]', '123');
    await page.click('#identity-form button[type=submit]');
    await see('account-invalid-number', '#number-error');

    await open(page, base, '/approvals');
    await see('approvals-empty', '#queue-empty');
    await open(page, base, '/requests');
    await see('requests-platform', '#request-list');
    await open(page, base, '/chains');
    await see('chains-platform', '#no-chains, #chains');
    await open(page, base, '/users');
    await see('users', '#users tr[data-name="admin"]');
    await open(page, base, '/quotas');
    await see('quotas', '#quotas tr, #no-quotas');
    await open(page, base, '/roles');
    await see('roles', '#roles tr[data-name="chain_auditor"]');
    assert.doesNotMatch(await page.textContent('#roles'), /\b[a-z]+_[a-z_]+\b/, 'a permission or role shown by its identifier');
    await open(page, base, '/audit');
    await see('audit', '#audit tbody tr');
    await page.click('#audit-verify');
    await see('audit-verified', '#audit-verified');

    await open(page, base, '/no-such-page');
    await see('not-found', 'main h1');

    // Signed out (from the home page's header), every page leads to sign-in.
    await open(page, base, '/');
    await page.click('#sign-out');
    await landed(page, '/login');
    await open(page, base, '/');
    await landed(page, '/login');
    await see('login-not-signed-in', '#notice');

    // The department admin: forced change, then the department's home.
    await signIn(page, base, `admin-${lang}`, initial);
    await landed(page, '/password');
    await see('password-forced', '#forced');
    const fresh = `Fresh-${lang}-Pass-2026`;
    await page.fill('#password input[name=old]', initial);
    await page.fill('#password input[name=new]', fresh);
    await page.fill('#password input[name=confirm]', 'different-1A!');
    await page.click('#password button[type=submit]');
    await see('password-mismatch', '#password-error');
    await page.fill('#password input[name=confirm]', fresh);
    await page.click('#password button[type=submit]');
    await landed(page, '/');
    await see('home-department', '#quota table');

    // The department's request pages, and a chain's page once approved.
    await open(page, base, '/requests');
    await see('requests-form', '#request-form');
    // The BFT choice, with the line on what it tolerates.
    await page.selectOption('#request-form select[name=consensus]', 'hotstuff');
    await page.waitForFunction(
      (hint) => document.querySelector('#consensus-hint')?.textContent === hint,
      t.get('HotstuffHint'),
      { timeout: 10_000 },
    );
    await see('requests-form-hotstuff', '#consensus-hint');
    await page.selectOption('#request-form select[name=consensus]', 'raft');
    await page.fill('#request-form input[name=nodes]', '0');
    await page.fill('#request-form textarea[name=purpose]', 'x');
    await page.click('#request-form button[type=submit]');
    await see('requests-field-refused', '#request-form .field-error');
    const asked = await api(page, 'POST', '/api/v1/requests', {
      purpose: 'language pass',
      spec: { kind: 'chain', name: `lang-${lang}`, consensus: 'solo', suite: 'gm', nodes: 1, resources: { cpu_millis: 500, memory_mb: 256, storage_mb: 1024 } },
    });
    assert.equal(asked.status, 201, JSON.stringify(asked.body));
    const admin = await newPage(rig.chrome.browser, base, lang);
    await signIn(admin, base, 'admin', ADMIN_PASSWORD);
    await landed(admin, '/');
    await open(admin, base, '/approvals');
    await admin.waitForSelector(`#queue tr[data-id="${asked.body.id}"]`);
    await oneLanguage(admin, lang, 'approvals');
    await shot(admin, `${lang}-approvals`);
    const decided = await api(admin, 'POST', `/api/v1/requests/${asked.body.id}/approve`, { opinion: 'ok' });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    await admin.close();
    await open(page, base, `/requests/${asked.body.id}`);
    await page.waitForSelector('#request[data-status="running"]', { timeout: 120_000 });
    await oneLanguage(page, lang, 'request-running');
    await shot(page, `${lang}-request-running`);
    await page.click('#request-chain');
    await page.waitForURL((u) => u.pathname.startsWith('/chains/'));
    await hydrated(page);
    await page.waitForFunction(() => document.querySelector('#chain-height')?.textContent.trim() !== '', null, { timeout: 30_000 });
    await see('chain-detail', '#node-list tbody tr');
    await open(page, base, '/chains');
    await see('chains', '#chains');
    await open(page, base, '/messages');
    await see('messages', '#messages li[data-kind="request_running"]');
    await open(page, base, '/invitations');
    await see('invitations', '#no-invitations');

    // The switch turns the whole page to the other language.
    await open(page, base, '/');
    await page.waitForSelector('#quota table');
    await page.click('#lang-switch');
    const other = lang === 'zh' ? 'en' : 'zh';
    await page.waitForFunction((tag) => document.documentElement.lang === tag, other === 'zh' ? 'zh-CN' : 'en');
    await hydrated(page);
    await page.waitForSelector('#quota table');
    await oneLanguage(page, other, 'home-department after the switch');
    assert.deepEqual(page.problems, [], 'no errors in the page');
  });
}

test('the session-expired message, in both languages', async () => {
  const short = await startPlatform(['--idle-timeout-secs', '1']);
  try {
    for (const lang of ['zh', 'en']) {
      const page = await newPage(rig.chrome.browser, short.console, lang);
      await signIn(page, short.console, 'admin', ADMIN_PASSWORD);
      await landed(page, '/');
      await page.waitForSelector('#org-counts');
      // The idle timeout is 1 s; the session ends after 1 s without a request.
      await new Promise((ok) => setTimeout(ok, 2_500));
      await open(page, short.console, '/');
      await page.waitForURL((u) => u.pathname === '/login' && u.searchParams.has('expired'), { timeout: 30_000 });
      await hydrated(page);
      const notice = (await page.textContent('#notice')).trim();
      assert.equal(notice, (lang === 'zh' ? zh : en).get('SessionExpired'));
      await oneLanguage(page, lang, 'login-session-expired');
      await shot(page, `${lang}-login-session-expired`);
    }
  } finally {
    await short.stop();
  }
});
