// Journey 12, the contract IDE, a contract's lifecycle and a governed
// deployment:
// 1. A developer writes a contract with a deliberate error below a Chinese
//    comment and sees the marker at its line, fixes it, compiles, sees the
//    reentrancy finding and dismisses it with a reason, deploys to the
//    organization's sandbox chain, calls a method and sees the decoded
//    result, and opens the debugger on that transaction: the storage write
//    and the decoded argument are shown.
// 2. Version 2.0 (a draft from the IDE) is upgraded in place: same address,
//    same state. Freezing makes a call fail with the frozen message;
//    unfreezing restores it; the zip download holds the ABI and bytecode.
// 3. On a chain whose policy asks for votes, a deployment waits for the
//    second organization's vote, cast in its own browser session, and then
//    goes through.
// Screenshots of the IDE and the contracts page in both languages; the
// IDE's time to interactive, its extra download size and the time from
// clicking deploy to the address shown are printed.
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, api, approvedChain, firstSignIn, landed, newPage, open, shot, signIn, useRig,
} from '../lib/harness.js';

const rig = useRig();

const WITH_ERROR = `// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// 一个存取款的保险柜。
contract Vault {
    mapping(address => uint256) public balances;
    uint256 public total;

    event Deposited(address indexed who, uint256 amount);

    function deposit(uint256 amount) public returns (uint256) {
        balances[msg.sender] += amount;
        // 记入总额（下一行的变量名有意写错）
        total += amout;
        emit Deposited(msg.sender, amount);
        return total;
    }

    function withdraw() public {
        uint256 a = balances[msg.sender];
        (bool ok, ) = msg.sender.call{value: a}("");
        require(ok, "transfer failed");
        balances[msg.sender] = 0;
    }
}
`;
const ERROR_LINE = 14;
const FIXED = WITH_ERROR.replace('total += amout;', 'total += amount;');
const V2 = FIXED.replace('    function withdraw()', `    function version() public pure returns (string memory) {
        return "2.0";
    }

    function withdraw()`);

/** Replaces the editor's text by pasting `source` over all of it. */
async function write(page, source) {
  await page.focus('#ide-editor .cm-content');
  await page.keyboard.press('Control+A');
  await page.evaluate((text) => {
    const data = new DataTransfer();
    data.setData('text/plain', text);
    document.querySelector('#ide-editor .cm-content')
      .dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, source);
  assert.equal(await page.$eval('#ide-source', (t) => t.value), source, 'the editor holds the pasted source');
}

/** Compiles and waits for the result; answers the number of errors. */
async function compile(page) {
  await page.click('#ide-compile');
  await page.waitForSelector('#ide-compiling', { state: 'detached', timeout: 60_000 });
  await page.waitForSelector('#ide-compiled, #ide-compile-failed, .error[role=alert]', { timeout: 60_000 });
  const failed = await page.$('#ide-compile-failed, .error[role=alert]');
  if (failed) assert.fail(`compiling failed: ${await failed.innerText()}`);
  return Number(await page.$eval('#ide-compiled', (e) => e.dataset.errors));
}

/** A department with its administrator signed in, in its own browser session. */
async function department(admin, base, name, domain, user, lang) {
  const created = await api(admin, 'POST', '/api/v1/orgs', {
    name, domain, description: '', admin_username: user, admin_real_name: '开发者',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const page = await newPage(rig.chrome.browser, base, lang);
  await firstSignIn(page, base, user, created.body.initial_password, 'Dev-Bureau-2026!x');
  return page;
}

test('IDE: marker at the line, finding dismissed, sandbox deploy, call, debugger; upgrade, freeze, zip', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  const dev = await department(admin, base, '大数据局', 'data.gov', 'data-dev');

  // The IDE opens from the menu; the editor module loads on this page only.
  const assets = new Map();
  dev.on('response', async (r) => {
    const u = new URL(r.url());
    if (['/pkg/editor.js', '/pkg/solc-worker.js', '/pkg/soljson.js'].includes(u.pathname)) {
      assets.set(u.pathname, Number(r.headers()['content-length'] || 0));
    }
  });
  await dev.click('#nav-ide');
  await landed(dev, '/ide');
  await dev.waitForSelector('#ide-editor[data-ready]', { timeout: 30_000 });
  const tti = await dev.evaluate(() => performance.now());

  // A deliberate error below a Chinese comment: the marker is at its line.
  await write(dev, WITH_ERROR);
  const t0 = Date.now();
  assert.ok(await compile(dev) >= 1, 'the error is reported');
  const compileMs = Date.now() - t0;
  const diag = await dev.$eval('#ide-diagnostics li.diag.error', (li) => ({ line: Number(li.dataset.line), text: li.innerText }));
  assert.equal(diag.line, ERROR_LINE, JSON.stringify(diag));
  assert.match(diag.text, /14:18 .*Undeclared identifier/);
  const marker = await dev.evaluate(() => {
    const range = document.querySelector('#ide-editor .cm-lintRange-error');
    if (!range) return null;
    const line = range.closest('.cm-line');
    const lines = [...document.querySelectorAll('#ide-editor .cm-content .cm-line')];
    return { line: lines.indexOf(line) + 1, text: range.textContent };
  });
  assert.deepEqual(marker, { line: ERROR_LINE, text: 'amout' }, 'the editor marks the misspelt name at its line');
  await shot(dev, 'ide-error-zh');

  // Fixed: it compiles, and the analysis reports the reentrancy in withdraw().
  await write(dev, FIXED);
  assert.equal(await compile(dev), 0);
  await dev.waitForSelector('#ide-no-problems');
  const finding = await dev.waitForSelector('#ide-finding-list li.finding[data-rule=reentrancy]');
  const findingLine = Number(await finding.getAttribute('data-line'));
  assert.equal(findingLine, FIXED.split('\n').findIndex((l) => l.includes('balances[msg.sender] = 0;')) + 1);
  await finding.$eval('button.goto', (b) => b.click());
  await finding.$eval('.dismiss-reason', (i) => i.focus());
  await dev.keyboard.insertText('只有本组织账户调用，且无以太币余额');
  await finding.$eval('.dismiss-btn', (b) => b.click());
  await dev.waitForSelector('#ide-finding-list li.finding[data-rule=reentrancy] .dismissed');
  assert.match(await dev.innerText('#ide-finding-list li.finding[data-rule=reentrancy] .dismissed'), /只有本组织账户调用/);

  // Kept as a project of the organization, with its history.
  await dev.click('#ide-new-project summary');
  await dev.fill('#new-project-name', '保险柜');
  await dev.click('#new-project-create');
  await dev.waitForSelector('#ide-files button.file.current[data-path="Contract.sol"]');

  // Deploy to the sandbox (the default target): deployer, address, transaction.
  assert.equal(await dev.$eval('#ide-chain', (s) => s.value), 'sandbox');
  await dev.selectOption('#ide-contract', 'Vault');
  const d0 = Date.now();
  await dev.click('#ide-deploy-btn');
  await dev.waitForSelector('#ide-deployed[data-state=active]', { timeout: 120_000 });
  const deployMs = Date.now() - d0;
  const address = await dev.innerText('#ide-address');
  assert.match(address, /^0x[0-9a-f]{40}$/);
  assert.match(await dev.innerText('#ide-deployer'), /^0x[0-9a-f]{40}$/);
  assert.match(await dev.innerText('#ide-deploy-tx'), /^[0-9a-f]{64}$/);
  const sandbox = await api(dev, 'GET', '/api/v1/sandbox');
  assert.equal(sandbox.status, 200, JSON.stringify(sandbox.body));
  assert.equal(sandbox.body.sandbox, true);

  // Call deposit(42): the decoded result and event.
  await dev.selectOption('#ide-method', 'deposit(uint256)');
  await dev.fill('.call-arg', '42');
  await dev.click('#ide-call-btn');
  await dev.waitForSelector('#ide-call-result[data-success=true]', { timeout: 60_000 });
  assert.equal(await dev.innerText('#ide-receiver'), address);
  assert.match(await dev.innerText('#ide-result'), /= 42/);
  assert.match(await dev.innerText('#ide-events'), /Deposited/);
  const callTx = await dev.innerText('#ide-call-tx');
  await shot(dev, 'ide-call-zh');

  // The debugger on that transaction: the decoded argument and the storage write.
  assert.equal(await dev.$eval('#dbg-tx', (i) => i.value), callTx);
  await dev.click('#dbg-load');
  await dev.waitForSelector('#dbg-summary', { timeout: 60_000 });
  assert.equal(await dev.innerText('#dbg-signature'), 'deposit(uint256)');
  assert.match(await dev.innerText('#dbg-args li[data-name=amount]'), /= 42/);
  assert.match(await dev.innerText('#dbg-returns'), /= 42/);
  const changes = await dev.$$eval('#dbg-storage-changes tr.storage-change',
    (rows) => rows.map((r) => [r.querySelector('.var').innerText, r.querySelector('.after').innerText]));
  assert.ok(changes.some(([name, after]) => name === 'total' && /0*2a$/.test(after)), `total becomes 42: ${changes}`);
  await dev.click('#dbg-next-write');
  await dev.waitForSelector('#dbg-access[data-kind=write]');
  assert.equal(await dev.innerText('#dbg-op'), 'SSTORE');
  const at = Number(await dev.$eval('#dbg-step', (e) => e.dataset.step));
  await dev.click('#dbg-prev');
  await dev.waitForSelector(`#dbg-step[data-step="${at - 1}"]`);
  await dev.click('#dbg-next');
  await dev.waitForSelector(`#dbg-step[data-step="${at}"]`);
  assert.ok((await dev.$$('#dbg-stack li')).length > 0, 'the stack is shown');
  assert.ok((await dev.$$('#dbg-callstack li')).length >= 1, 'the call stack is shown');
  await shot(dev, 'ide-debugger-zh');

  // --- 2. Version 2.0 as a draft from the IDE, upgraded on the contracts page.
  await write(dev, V2);
  await dev.fill('#ide-save-message', '2.0：增加 version()');
  await dev.click('#ide-save');
  await dev.waitForSelector('#ide-saved');
  await dev.click('#ide-history-box summary');
  await dev.waitForSelector('#ide-history li.revision:nth-child(2)');
  const revs = await dev.$$eval('#ide-history li.revision', (l) => l.map((x) => Number(x.dataset.revision)));
  assert.equal(revs.length, 2, `two revisions of Contract.sol: ${revs}`);
  await dev.click(`#ide-history li.revision[data-revision="${Math.min(...revs)}"] button.restore`);
  await dev.waitForFunction((t) => document.querySelector('#ide-source').value === t, FIXED);
  await dev.click(`#ide-history li.revision[data-revision="${Math.max(...revs)}"] button.restore`);
  await dev.waitForFunction((t) => document.querySelector('#ide-source').value === t, V2);
  assert.equal(await compile(dev), 0);
  const kid = (await api(dev, 'GET', `/api/v1/chains/${sandbox.body.id}/contracts`)).body.find((k) => k.name === 'Vault').id;
  await dev.selectOption('#ide-deploy-as', String(kid));
  await dev.click('#ide-deploy-btn');
  await dev.waitForSelector('#ide-draft-saved[data-version="2.0"]', { timeout: 60_000 });
  await dev.click('#ide-draft-saved a');
  await landed(dev, `/chains/${sandbox.body.id}/contracts`);
  const row = `#contracts tr.contract[data-name=Vault]`;
  await dev.waitForSelector(`${row} button.upgrade[data-version="2.0"]`);
  await shot(dev, 'contracts-zh');
  await dev.click(`${row} button.upgrade`);
  await dev.waitForFunction((r) => document.querySelector(`${r} .version`)?.innerText === '2.0', row, { timeout: 60_000 });
  assert.equal(await dev.innerText(`${row} .address`), address, 'the upgrade keeps the address');
  const calls = `/api/v1/chains/${sandbox.body.id}/contracts/${kid}/calls`;
  const total = await api(dev, 'POST', calls, { method: 'total', args: [] });
  assert.equal(total.body.result[0].value, '42', `the upgrade keeps the state: ${JSON.stringify(total.body)}`);
  const version = await api(dev, 'POST', calls, { method: 'version', args: [] });
  assert.equal(version.body.result[0].value, '2.0', JSON.stringify(version.body));

  // Freeze: a call fails with the frozen message; unfreeze: it works again.
  await dev.click(`${row} button.freeze`);
  await dev.waitForSelector(`${row}[data-state=frozen]`, { timeout: 60_000 });
  await dev.click(`${row} a.open-ide`);
  await landed(dev, '/ide');
  await dev.waitForSelector('#ide-method');
  await dev.selectOption('#ide-method', 'deposit(uint256)');
  await dev.fill('.call-arg', '1');
  await dev.click('#ide-call-btn');
  await dev.waitForSelector('#ide-call-result[data-success=false], #ide-call-failed', { timeout: 60_000 });
  const refused = await dev.innerText('#ide-call-result, #ide-call-failed');
  assert.match(refused, /frozen/i, refused);
  await open(dev, base, `/chains/${sandbox.body.id}/contracts`);
  await dev.click(`${row} button.unfreeze`);
  await dev.waitForSelector(`${row}[data-state=active]`, { timeout: 60_000 });
  const again = await api(dev, 'POST', calls, { method: 'deposit', args: ['1'] });
  assert.equal(again.body.success, true, JSON.stringify(again.body));
  assert.equal(again.body.result[0].value, '43');

  // The zip: the ABI and the bytecode.
  const [download] = await Promise.all([dev.waitForEvent('download'), dev.click(`${row} a.download-zip`)]);
  const zip = readFileSync(await download.path());
  assert.equal(zip.readUInt32LE(0), 0x04034b50, 'a zip file');
  const listed = zip.toString('latin1');
  assert.ok(listed.includes('Vault.abi.json') && listed.includes('Vault.bin'), 'it holds the ABI and the bytecode');
  assert.ok(listed.includes('"deposit"'), 'the ABI names deposit');

  // Both languages.
  const en = await newPage(rig.chrome.browser, base, 'en');
  await signIn(en, base, 'data-dev', 'Dev-Bureau-2026!x');
  await landed(en, '/');
  await open(en, base, `/chains/${sandbox.body.id}/contracts`);
  await en.waitForSelector(row);
  await shot(en, 'contracts-en');
  await open(en, base, `/ide?chain=${sandbox.body.id}&contract=${kid}`);
  await en.waitForSelector('#ide-editor[data-ready]', { timeout: 30_000 });
  await write(en, WITH_ERROR);
  await compile(en);
  await en.click('#dbg-load').catch(() => {});
  await shot(en, 'ide-en');

  const kb = (n) => (n / 1024).toFixed(1);
  const extra = [...assets.values()].reduce((a, b) => a + b, 0);
  console.log(`figure: IDE time to interactive ${tti.toFixed(0)} ms; extra download ${kb(extra)} KiB gzip `
    + `(${[...assets].map(([p, n]) => `${p} ${kb(n)}`).join(', ')}); first compile ${compileMs} ms; `
    + `deploy click to address on the sandbox ${deployMs} ms`);
});

test('a governed deployment waits for the second organization\'s vote in its own session', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  const tax = await department(admin, base, '税务局', 'tax.gov', 'tax-dev');
  const market = await department(admin, base, '市场监管局', 'market.gov', 'market-dev');

  const spec = { kind: 'chain', name: 'permits', consensus: 'solo', suite: 'gm', nodes: 1,
    resources: { cpu_millis: 100, memory_mb: 128, storage_mb: 256 },
    contract_governance: { members: ['tax.gov', 'market.gov'], threshold: 2, actions: ['deploy', 'upgrade'] } };
  const chainId = await approvedChain(tax, admin, '许可证共享', spec);
  const inv = await api(tax, 'POST', `/api/v1/chains/${chainId}/invitations`, { org_domain: 'market.gov' });
  assert.ok(inv.status < 300, JSON.stringify(inv.body));
  const accepted = await api(market, 'POST', `/api/v1/invitations/${inv.body.id}/accept`, {});
  assert.ok(accepted.status < 300, JSON.stringify(accepted.body));

  // tax.gov deploys from the IDE to the governed chain: a proposal.
  await open(tax, base, '/ide');
  await tax.waitForSelector('#ide-editor[data-ready]', { timeout: 30_000 });
  await write(tax, FIXED);
  assert.equal(await compile(tax), 0);
  await tax.waitForSelector(`#ide-chain option[value="${chainId}"]`, { state: 'attached' });
  await tax.selectOption('#ide-chain', String(chainId));
  await tax.selectOption('#ide-contract', 'Vault');
  await tax.click('#ide-deploy-btn');
  await tax.waitForSelector('#ide-deployed[data-state=proposed] #ide-awaiting-votes', { timeout: 60_000 });
  await shot(tax, 'ide-proposed-zh');
  await tax.click('#ide-awaiting-votes a');
  await landed(tax, `/chains/${chainId}/contracts`);
  await tax.waitForSelector('#proposals tr.proposal[data-status=open]');
  assert.equal(await tax.$$eval('#proposals tr.proposal button.vote-approve', (b) => b.length), 0,
    'the proposer has voted by proposing');
  assert.equal(await tax.$eval('#contracts tr.contract[data-name=Vault]', (r) => r.dataset.state), 'proposed');

  // market.gov, in its own session, approves; the deployment goes through.
  await open(market, base, `/chains/${chainId}/contracts`);
  await market.waitForSelector('#proposals tr.proposal[data-status=open] button.vote-approve');
  await shot(market, 'contracts-proposal-zh');
  await market.click('#proposals tr.proposal[data-status=open] button.vote-approve');
  await market.waitForSelector('#proposals tr.proposal[data-status=executed]', { timeout: 60_000 });
  await tax.waitForSelector('#contracts tr.contract[data-name=Vault][data-state=active]', { timeout: 30_000 });
  const address = await tax.innerText('#contracts tr.contract[data-name=Vault] .address');
  assert.match(address, /^0x[0-9a-f]{40}$/);
});
