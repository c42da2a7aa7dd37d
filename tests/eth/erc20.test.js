// ethers.js v6 against a real `govchain dev --suite intl-k1`: Token.sol
// compiled with solc-js (standard JSON, nothing downloaded), deployed,
// tokens transferred, balances and Transfer events checked, and a transfer
// beyond the balance reverting with its reason, all through the node's
// Ethereum JSON-RPC unmodified.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ethers } from 'ethers';
import { govchainBin } from '../lib/harness.js';

const require = createRequire(import.meta.url);
const solc = require('solc');
const here = dirname(fileURLToPath(import.meta.url));

/** Compiles Token.sol; returns its ABI and creation bytecode. */
function compileToken() {
  const input = {
    language: 'Solidity',
    sources: { 'Token.sol': { content: readFileSync(join(here, 'Token.sol'), 'utf8') } },
    settings: {
      evmVersion: 'prague',
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  assert.deepEqual(errors.map((e) => e.formattedMessage), [], 'Token.sol compiles');
  const token = output.contracts['Token.sol'].Token;
  return { abi: token.abi, bytecode: `0x${token.evm.bytecode.object}` };
}

/** Starts `govchain dev` on a free loopback port; resolves once its JSON-RPC URL is printed. */
async function startDev() {
  const data = mkdtempSync(join(tmpdir(), 'govchain-eth-'));
  const child = spawn(govchainBin(), ['dev', '--suite', 'intl-k1', '--data', data, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const rpc = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`govchain dev printed no eth_rpc= line in 60 s\n${out}\n${err}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^eth_rpc=(.*)$/m.exec(out);
      if (m) { clearTimeout(timer); ok(m[1].trim()); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`govchain dev exited (${code})\n${out}\n${err}`)); });
  });
  return {
    rpc,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

let dev;
let provider;

before(async () => {
  dev = await startDev();
  // ethers caches identical requests for 250 ms by default, so a second
  // transaction right after a first would reuse its nonce; no cache here.
  provider = new ethers.JsonRpcProvider(dev.rpc, undefined, { staticNetwork: true, cacheTimeout: -1 });
  provider.pollingInterval = 100;
});

after(async () => {
  provider?.destroy();
  await dev?.stop();
});

test('ethers deploys an ERC-20 token, transfers tokens and sees a revert with its reason', async () => {
  const { abi, bytecode } = compileToken();
  // The dev chain's id is derived from its name, "dev".
  const derived = BigInt(ethers.dataSlice(ethers.keccak256(ethers.toUtf8Bytes('govchain-evm-chain-id:dev')), 0, 6));
  const network = await provider.getNetwork();
  assert.equal(network.chainId, derived);

  const owner = new ethers.Wallet(ethers.id('govchain ethers test: owner'), provider);
  const alice = ethers.Wallet.createRandom().address;
  assert.equal(await provider.getTransactionCount(owner.address), 0);

  // Deploy.
  const factory = new ethers.ContractFactory(abi, bytecode, owner);
  const token = await factory.deploy('Government Token', 'GOV', 1_000_000n);
  await token.waitForDeployment();
  const address = await token.getAddress();
  assert.equal(address, ethers.getCreateAddress({ from: owner.address, nonce: 0 }));
  assert.notEqual(await provider.getCode(address), '0x');
  const deployed = await token.deploymentTransaction().wait();
  assert.equal(deployed.status, 1);
  assert.equal(deployed.contractAddress, address);
  const minted = token.interface.parseLog(deployed.logs[0]);
  assert.equal(minted.name, 'Transfer');
  assert.equal(minted.args.from, ethers.ZeroAddress);
  assert.equal(minted.args.value, 1_000_000n);
  assert.equal(await token.name(), 'Government Token');
  assert.equal(await token.totalSupply(), 1_000_000n);

  // Transfer, with its Transfer event in the receipt.
  const sent = await token.transfer(alice, 250n);
  const receipt = await sent.wait();
  assert.equal(receipt.status, 1);
  assert.equal(receipt.hash, sent.hash);
  assert.equal(receipt.hash, ethers.keccak256(ethers.Transaction.from(sent).serialized));
  assert.equal(receipt.logs.length, 1);
  const event = token.interface.parseLog(receipt.logs[0]);
  assert.equal(event.name, 'Transfer');
  assert.equal(event.args.from, owner.address);
  assert.equal(event.args.to, alice);
  assert.equal(event.args.value, 250n);
  const block = await provider.getBlock(receipt.blockNumber);
  assert.equal(block.hash, receipt.blockHash);
  assert.ok(block.transactions.includes(receipt.hash));

  // Balances.
  assert.equal(await token.balanceOf(owner.address), 999_750n);
  assert.equal(await token.balanceOf(alice), 250n);

  // A transfer beyond the balance reverts with its reason: refused when
  // ethers estimates its gas ...
  await assert.rejects(token.transfer(alice, 2_000_000n), (e) => {
    assert.equal(e.code, 'CALL_EXCEPTION');
    assert.equal(e.reason, 'Token: transfer amount exceeds balance');
    return true;
  });
  // ... and, sent anyway with a gas limit, it fails on chain and leaves
  // the balances and the sender's nonce as they were.
  const nonce = await provider.getTransactionCount(owner.address);
  const doomed = await token.transfer(alice, 2_000_000n, { gasLimit: 200_000n });
  await assert.rejects(doomed.wait(), (e) => {
    assert.equal(e.code, 'CALL_EXCEPTION');
    assert.equal(e.receipt.status, 0);
    return true;
  });
  assert.equal(await provider.getTransactionCount(owner.address), nonce);
  assert.equal(await token.balanceOf(alice), 250n);

  // The next transfer takes the nonce the failed one left, and the logs
  // of both transfers are found by their indexed sender.
  await (await token.transfer(alice, 50n)).wait();
  assert.equal(await token.balanceOf(alice), 300n);
  const transfers = await token.queryFilter(token.filters.Transfer(owner.address), 0);
  assert.deepEqual(transfers.map((l) => l.args.value), [250n, 50n]);
});
