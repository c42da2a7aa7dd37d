// Journey 11, the chain explorer and evidence: a department opens its
// chain's explorer from the chain page, sees the latest blocks, and finds a
// block by its height and by its hash and a transaction by its id, whose
// proof of inclusion the platform checked; a wrong hash gives a clear "not
// found". Then it records a file as evidence (hashed in the browser with
// the chain's SM3): the same file matches with its record, a file one byte
// off does not, and a second record of it is refused. Screenshots in both
// languages.
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_PASSWORD, api, approvedChain, firstSignIn, landed, newPage, open, putThrough, shot, signIn, useRig,
} from '../lib/harness.js';

const rig = useRig();

/** Searches the explorer for `q`. */
async function search(page, q) {
  await page.fill('#explorer-search input[name=q]', q);
  await page.click('#explorer-search button[type=submit]');
}

test('explorer and evidence: latest blocks, search by height, hash and id, not found; record a file, match, no match', async () => {
  const base = rig.platform.console;
  const admin = await newPage(rig.chrome.browser, base);
  await signIn(admin, base, 'admin', ADMIN_PASSWORD);
  await landed(admin, '/');
  const created = await api(admin, 'POST', '/api/v1/orgs', {
    name: '审计局', domain: 'audit.gov', description: '', admin_username: 'audit-admin', admin_real_name: '赵六',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const dept = await newPage(rig.chrome.browser, base);
  await firstSignIn(dept, base, 'audit-admin', created.body.initial_password, 'Audit-Bureau-2026!');

  // A solo chain, requested and approved through the API (journey 2 does it in the pages).
  const chainId = await approvedChain(dept, admin, '审计存证', { kind: 'chain', name: 'audit-chain', consensus: 'solo',
    suite: 'gm', nodes: 1, resources: { cpu_millis: 100, memory_mb: 128, storage_mb: 256 } });
  const chain = await api(dept, 'GET', `/api/v1/chains/${chainId}`);
  await putThrough(chain.body.nodes[0].api_url, chain.body.suite, 'journey11');

  // From the chain page to its explorer; the latest blocks are listed, newest first.
  await open(dept, base, `/chains/${chainId}`);
  await dept.click('#chain-explorer');
  await landed(dept, `/chains/${chainId}/explorer`);
  await dept.waitForSelector('#block-list tbody tr');
  const heights = await dept.$$eval('#block-list tbody tr', (rows) => rows.map((r) => Number(r.dataset.height)));
  assert.ok(heights.length >= 2 && heights[0] > heights[1], JSON.stringify(heights));

  // Statistics: a bar per block, oldest first, and the transactions by type.
  await dept.waitForSelector('#tx-chart rect.bar');
  const bars = await dept.$$eval('#tx-chart rect.bar', (rs) => rs.map((r) => Number(r.dataset.height)));
  assert.ok(bars.length >= 2 && bars[0] === 0, JSON.stringify(bars));
  await dept.waitForSelector('#tx-types dd[data-type="invoke"]');

  // The block holding the write, by its height: its transaction is listed.
  const blocks = await api(dept, 'GET', `/api/v1/chains/${chainId}/blocks?limit=100`);
  const withTx = blocks.body.find((b) => b.tx_count > 0);
  assert.ok(withTx, JSON.stringify(blocks.body));
  await search(dept, String(withTx.height));
  await dept.waitForSelector(`#explorer-block .block-height:text-is("${withTx.height}")`);
  const txId = await dept.getAttribute('#explorer-block .block-txs tbody tr', 'data-tx');
  assert.match(txId, /^[0-9a-f]{64}$/);
  await shot(dept, 'journey11-block-zh');

  // The same block by its hash.
  await search(dept, `0x${withTx.id}`);
  await dept.waitForSelector(`#explorer-block .block-id:text-is("${withTx.id}")`);

  // The transaction by its id: its block, and a proof of inclusion that checks.
  await search(dept, txId);
  await dept.waitForSelector(`#explorer-tx .tx-id:text-is("${txId}")`);
  assert.equal(await dept.getAttribute('#proof-verified', 'class'), 'ok');
  assert.match(await dept.textContent('#explorer-tx'), /已验证/);
  await shot(dept, 'journey11-transaction-zh');

  // A wrong hash: a clear "not found", naming what was searched.
  const wrong = 'cd'.repeat(32);
  await search(dept, wrong);
  await dept.waitForSelector('#explorer-not-found');
  assert.match(await dept.textContent('#explorer-not-found'), new RegExp(`链上未找到.*${wrong}`));
  await search(dept, 'hello');
  await dept.waitForSelector('#explorer-refused');

  // In English, the same transaction.
  const en = await newPage(rig.chrome.browser, base, 'en');
  await signIn(en, base, 'audit-admin', 'Audit-Bureau-2026!');
  await landed(en, '/');
  await open(en, base, `/chains/${chainId}/explorer`);
  await en.waitForSelector('#block-list tbody tr');
  await search(en, txId);
  await en.waitForSelector(`#explorer-tx .tx-id:text-is("${txId}")`);
  assert.match(await en.textContent('#proof-verified'), /Verified/);
  await shot(en, 'journey11-transaction-en');
  await search(en, wrong);
  await en.waitForSelector('#explorer-not-found');
  assert.match(await en.textContent('#explorer-not-found'), /Nothing on this chain matches/);
  await shot(en, 'journey11-not-found-en');

  // Evidence: a file is recorded from the browser; only its digest is sent.
  const file = Buffer.from('许可证 2026-001：准予经营\n'.repeat(100));
  await open(dept, base, `/chains/${chainId}`);
  await dept.click('#chain-evidence');
  await landed(dept, `/chains/${chainId}/evidence`);
  await dept.waitForSelector('#evidence-hash:text-is("SM3")');
  await dept.setInputFiles('#evidence-file', { name: 'permit.txt', mimeType: 'text/plain', buffer: file });
  await dept.fill('#evidence-record input[name=note]', '经营许可');
  await dept.click('#evidence-record button[type=submit]');
  await dept.waitForSelector('#evidence-recorded', { timeout: 30_000 });
  const recordedTx = (await dept.textContent('#evidence-recorded .evidence-tx')).trim();
  assert.match(recordedTx, /^[0-9a-f]{64}$/);
  assert.equal((await dept.textContent('#evidence-recorded .evidence-org')).trim(), 'audit.gov');
  // The browser's digest is the file's SM3, the chain's hash.
  assert.equal(
    (await dept.textContent('#evidence-recorded .evidence-digest')).trim(),
    createHash('sm3').update(file).digest('hex'),
  );
  await shot(dept, 'journey11-evidence-recorded-zh');
  // The same file matches, with the record: transaction, height, organization.
  await dept.setInputFiles('#verify-file', { name: 'copy.txt', mimeType: 'text/plain', buffer: file });
  await dept.click('#evidence-verify button[type=submit]');
  await dept.waitForSelector('#evidence-match', { timeout: 30_000 });
  assert.equal((await dept.textContent('#evidence-match .evidence-tx')).trim(), recordedTx);
  assert.match(await dept.textContent('#evidence-match'), /一致/);
  await shot(dept, 'journey11-evidence-match-zh');
  // A file one byte off does not.
  const changed = Buffer.from(file);
  changed[10] ^= 1;
  await dept.setInputFiles('#verify-file', { name: 'forged.txt', mimeType: 'text/plain', buffer: changed });
  await dept.click('#evidence-verify button[type=submit]');
  await dept.waitForSelector('#evidence-no-match', { timeout: 30_000 });
  await shot(dept, 'journey11-evidence-no-match-zh');
  // Recording the same file again is refused with the reason.
  await dept.click('#evidence-record button[type=submit]');
  await dept.waitForSelector('#evidence-already', { timeout: 30_000 });
  // The record's transaction is on the chain, in the explorer.
  const seen = await api(dept, 'GET', `/api/v1/chains/${chainId}/transactions/${recordedTx}`);
  assert.equal(seen.body.recipient, 'evidence', JSON.stringify(seen.body));
  assert.equal(seen.body.proof_verified, true);
  // In English, the check of the original file.
  await open(en, base, `/chains/${chainId}/evidence`);
  await en.waitForSelector('#evidence-hash:text-is("SM3")');
  await en.setInputFiles('#verify-file', { name: 'permit.txt', mimeType: 'text/plain', buffer: file });
  await en.click('#evidence-verify button[type=submit]');
  await en.waitForSelector('#evidence-match', { timeout: 30_000 });
  assert.match(await en.textContent('#evidence-match'), /Match/);
  await shot(en, 'journey11-evidence-match-en');
});
