// What every browser journey shares: a real `govchain up` on loopback, a
// headless Debian chromium driven by playwright-core, the hydration mark,
// and screenshots. A missing chromium, binary or npm package fails loudly.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');

/** Where screenshots go (the README names it). */
export const SHOTS = process.env.GOVCHAIN_SCREENSHOTS || join(repo, 'tests', 'artifacts', 'screenshots');

/** The super admin's password in every journey's platform. */
export const ADMIN_PASSWORD = 'Console-Test-2026!';

/** The govchain binary: `GOVCHAIN_BIN`, or a cargo build under `CARGO_TARGET_DIR`. */
export function govchainBin() {
  if (process.env.GOVCHAIN_BIN) return process.env.GOVCHAIN_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(repo, 'target');
  for (const profile of ['debug', 'release']) {
    const p = join(target, profile, 'govchain');
    if (existsSync(p)) return p;
  }
  throw new Error(`no govchain binary under ${target}/{debug,release}: run \`cargo build --bin govchain\` or set GOVCHAIN_BIN`);
}

function chromiumPath() {
  const p = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`${p} is missing: install Debian's chromium (scripts/test-deps.sh)`);
  return p;
}

/**
 * Starts `govchain up` on 127.0.0.1 with a fresh data directory; resolves
 * once it printed its URLs (`data` is the data directory). `extra`: more arguments.
 */
export async function startPlatform(extra = []) {
  const data = mkdtempSync(join(tmpdir(), 'govchain-console-'));
  const child = spawn(govchainBin(), ['up', '--listen', '127.0.0.1:0', '--data', data, '--admin-password', ADMIN_PASSWORD, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const info = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`govchain up did not print its URLs in 60 s\n${out}\n${err}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const url = /^url=(.*)$/m.exec(out);
      const console = /^console=(.*)$/m.exec(out);
      if (url && console) { clearTimeout(timer); ok({ url: url[1].trim(), console: console[1].trim() }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`govchain up exited (${code})\n${out}\n${err}`)); });
  });
  return {
    ...info,
    data,
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

/** A headless chromium (playwright gives it a fresh temporary profile). */
export async function startBrowser() {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return {
    browser,
    async close() { await browser.close(); },
  };
}

/** A new page (its own cookies) in `lang` ('zh' or 'en'; none: the default). */
export async function newPage(browser, base, lang) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: lang === 'en' ? 'en-US' : 'zh-CN' });
  if (lang) {
    await ctx.addCookies([{ name: 'govchain_lang', value: lang, url: base }]);
  }
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.problems = problems;
  return page;
}

/** Waits until the page is hydrated (`<body data-hydrated>`). */
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated="true"]', { state: 'attached', timeout: 30_000 });
}

/** Goes to `path` and waits for hydration. */
export async function open(page, base, path) {
  await page.goto(new URL(path, base).href);
  await hydrated(page);
}

/** Waits for a navigation to `path` (a full page load) and its hydration. */
export async function landed(page, path) {
  await page.waitForURL((u) => u.pathname === path, { timeout: 30_000 });
  await hydrated(page);
}

/** Saves a full-page screenshot as `<SHOTS>/<name>.png`. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * A chain that `requester` asks for through the API (the request journeys
 * do it in the pages) and `approver` approves; answers its id once it runs.
 */
export async function approvedChain(requester, approver, purpose, spec) {
  const req = await api(requester, 'POST', '/api/v1/requests', { purpose, spec });
  if (req.status >= 300) throw new Error(`request refused: ${JSON.stringify(req.body)}`);
  const approved = await api(approver, 'POST', `/api/v1/requests/${req.body.id}/approve`, { opinion: '同意' });
  if (approved.status >= 300) throw new Error(`approval refused: ${JSON.stringify(approved.body)}`);
  for (let i = 0; i < 120; i += 1) {
    const r = await api(requester, 'GET', `/api/v1/requests/${req.body.id}`);
    if (r.body.status === 'failed') throw new Error(`provisioning failed: ${JSON.stringify(r.body)}`);
    if (r.body.status === 'running') return r.body.chain_id;
    await new Promise((ok) => setTimeout(ok, 500));
  }
  throw new Error('the chain does not run within a minute');
}

/** Signs in through the sign-in page. */
export async function signIn(page, base, user, password) {
  await open(page, base, '/login');
  await page.fill('#login input[name=username]', user);
  await page.fill('#login input[name=password]', password);
  await page.click('#login button[type=submit]');
}

/** The page's visible text. */
export async function text(page) {
  return page.evaluate(() => document.body.innerText);
}

/** Calls the REST API from `page` (its session cookie and CSRF token); resolves to `{status, body}`. */
export async function api(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const headers = { accept: 'application/json' };
    if (method !== 'GET') {
      const me = await (await fetch('/api/v1/auth/me')).json();
      headers['x-csrf-token'] = me.csrf_token;
      headers['content-type'] = 'application/json';
    }
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const t = await r.text();
    return { status: r.status, body: t ? JSON.parse(t) : null };
  }, [method, path, body]);
}

/** Runs the govchain CLI; resolves to its output, throws when it fails. */
async function cli(args) {
  const child = spawn(govchainBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((ok) => child.on('exit', ok));
  if (code !== 0) throw new Error(`govchain ${args.join(' ')} failed (${code}): ${out}`);
  return out;
}

/** Commits one data-contract write through a node's API with `govchain tx put`, signed by a fresh `suite` key. */
export async function putThrough(node, suite, key) {
  const dir = mkdtempSync(join(tmpdir(), 'govchain-key-'));
  try {
    await cli(['key', 'gen', '--suite', suite, '--out', dir]);
    await cli(['tx', 'put', '--node', node, '--key', join(dir, 'key.pem'), key, 'v']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Signs in a user an administrator created and changes the forced password; lands on home. */
export async function firstSignIn(page, base, user, initial, fresh) {
  await signIn(page, base, user, initial);
  await landed(page, '/password');
  await page.fill('#password input[name=old]', initial);
  await page.fill('#password input[name=new]', fresh);
  await page.fill('#password input[name=confirm]', fresh);
  await page.click('#password button[type=submit]');
  await landed(page, '/');
}

/** A department the super admin (`admin`'s page) creates, with its administrator signed in on a new page. */
export async function newDepartment(browser, admin, base, name, domain, user, password) {
  const created = await api(admin, 'POST', '/api/v1/orgs', {
    name, domain, description: '', admin_username: user, admin_real_name: '管理员',
  });
  if (created.status !== 201) throw new Error(`creating ${domain}: ${JSON.stringify(created.body)}`);
  const page = await newPage(browser, base);
  await firstSignIn(page, base, user, created.body.initial_password, password);
  return page;
}

/**
 * A platform and a browser for the tests of one file: started before them,
 * stopped after them; `rig.platform` and `rig.chrome` once started.
 */
export function useRig(extra = []) {
  const rig = {};
  before(async () => {
    rig.platform = await startPlatform(extra);
    rig.chrome = await startBrowser();
  });
  after(async () => {
    await rig.chrome?.close();
    await rig.platform?.stop();
  });
  return rig;
}
