// Shared by the browser tests: the served app's address, Debian's Chromium, hydration.
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.TENANTRY_E2E_URL ?? 'http://127.0.0.1:3000';

// The flags this sandbox needs: no GPU, no background network chatter (refused here anyway).
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/** Waits until the server (at `base`) answers /readyz (cargo-leptos does not wait for it). */
export async function waitForServer(timeoutMs = 120_000, base = BASE_URL) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) return;
      last = `HTTP ${res.status}: ${await res.text()}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${base} not ready after ${timeoutMs} ms (${last})`);
}

/**
 * A page in a fresh context. Console errors and uncaught exceptions are collected in
 * `page.problems` so tests can assert the page ran cleanly.
 */
export async function openPage(browser, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console: ${msg.text()}`);
  });
  return page;
}

/** A click before the WASM has hydrated is silently lost; the app marks <body> when ready. */
export async function waitForHydration(page) {
  await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 30_000 });
}

// ---- Accounts and orgs for the browser tests -------------------------------------------------
// Users sign up through the real registration endpoint (scripts/test enables it for this
// server). What no endpoint does yet (superadmins, memberships, bound users) is done as the owner
// role over the embedded cluster's socket, as the Rust tests do.
import { execFileSync, spawn } from 'node:child_process';

export const PASSWORD = 'e2e password 123';

/** Runs SQL as tenantry_owner on the served app's embedded PostgreSQL; returns trimmed output. */
export function sql(query) {
  const dir = process.env.TENANTRY_DATA_DIR;
  if (!dir) throw new Error('TENANTRY_DATA_DIR is not set (run through ./tenantry test)');
  return execFileSync('psql', ['-h', `${dir}/pg`, '-U', 'tenantry_owner', '-d', 'tenantry',
    '-v', 'ON_ERROR_STOP=1', '-At', '-c', query], { encoding: 'utf8' }).trim();
}

/**
 * Holds `table` locked for `seconds` from another session, as a long transaction in production
 * would: work that needs it waits meanwhile. Resolves once the lock is held; `released` is a
 * promise for its end.
 */
export async function holdLock(table, seconds) {
  const dir = process.env.TENANTRY_DATA_DIR;
  const child = spawn('psql', ['-h', `${dir}/pg`, '-U', 'tenantry_owner', '-d', 'tenantry',
    '-v', 'ON_ERROR_STOP=1', '-c',
    `begin; lock table ${table} in access exclusive mode; select pg_sleep(${seconds}); commit;`],
  { stdio: 'ignore' });
  const released = new Promise((resolve) => child.on('exit', resolve));
  for (let i = 0; i < 100; i++) {
    const held = sql(`select count(*) from pg_locks l join pg_class c on c.oid = l.relation
      where c.relname = '${table}' and l.mode = 'AccessExclusiveLock' and l.granted`);
    if (held === '1') return { released };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`could not lock ${table}`);
}

/**
 * POSTs a server function as an API client would (to the server at `base`); returns
 * { status, body, token }.
 */
export async function callServerFn(endpoint, fields, token, base = BASE_URL) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/api/${endpoint}`, {
    method: 'POST', headers, body: new URLSearchParams(fields).toString(), redirect: 'manual',
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('tenantry_session='));
  const value = cookie?.split(';')[0].slice('tenantry_session='.length);
  return { status: res.status, body: await res.text(), token: value || undefined };
}

/** A user registered through the endpoint, with their personal org. Returns its ids. */
export async function register(email, organization) {
  const res = await callServerFn('auth/register', {
    name: email.split('@')[0], email, password: PASSWORD, organization,
  });
  if (!res.token) throw new Error(`registering ${email} failed: ${res.status} ${res.body}`);
  const userId = sql(`select user_id from app_user where email = '${email}'`);
  const orgId = sql(`select org_id from membership where user_id = '${userId}'`);
  return { email, userId, orgId, token: res.token };
}

export function addMember(orgId, userId, role = 'member') {
  sql(`with seq as (update organization set member_seq = member_seq + 1 where org_id = '${orgId}'
                    returning member_seq)
       insert into membership (org_id, user_id, role_name, member_seq)
       select '${orgId}', '${userId}', '${role}', member_seq from seq`);
}

/** A unique suffix, so each test file's accounts and orgs never collide. */
export const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/**
 * Signs in through the page of the server at `base` (with JS when enabled); leaves the page on
 * the overview.
 */
export async function signInThroughPage(page, email, { js = true, base = BASE_URL } = {}) {
  await page.goto(`${base}/sign-in`);
  if (js) await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await Promise.all([
    page.waitForURL(`${base}/`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  // With JS the frame renders once the session has been read.
  await page.getByTestId('signed-in-as').waitFor();
}

/** Saves a screenshot as a test artifact (end2end/test-results/screenshots/<name>.png). */
export async function screenshot(page, name) {
  const { mkdirSync } = await import('node:fs');
  const dir = new URL('./test-results/screenshots/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: `${dir}${name}.png`, fullPage: true });
}

/**
 * The Organizations table walked as an admin does: search for `prefix` (27 orgs named
 * "<prefix> 00" … "<prefix> 26", odd ones CRM), 25 rows a page, sort by title both ways, the
 * second page, then the CRM filter. The page is hydrated on the Organizations page.
 */
export async function walkOrgTable(page, prefix) {
  const names = () => page.getByTestId('org-name').allTextContents();
  await page.getByLabel('Search organizations').fill(prefix);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/q=/);
  await page.getByTestId('page-info').filter({ hasText: 'of 27' }).waitFor();
  if ((await names()).length !== 25) throw new Error(`expected 25 rows, got ${(await names()).length}`);
  await page.getByRole('link', { name: 'Title' }).click();
  await page.waitForURL(/sort=title&dir=asc/);
  await page.getByTestId('org-name').first().filter({ hasText: `${prefix} 00` }).waitFor();
  await page.getByRole('link', { name: 'Title' }).click();
  await page.waitForURL(/sort=title&dir=desc/);
  await page.getByTestId('org-name').first().filter({ hasText: `${prefix} 26` }).waitFor();
  await page.getByRole('link', { name: 'Next' }).click();
  await page.waitForURL(/page=2/);
  await page.getByTestId('page-info').filter({ hasText: 'Showing 26–27 of 27' }).waitFor();
  await page.getByRole('list', { name: 'Product filter' }).getByRole('link', { name: 'CRM' }).click();
  await page.waitForURL(/product=crm/);
  await page.getByTestId('page-info').filter({ hasText: 'of 13' }).waitFor();
  const crm = await names();
  if (!crm.every((n) => /(01|03|05|07|09|11|13|15|17|19|21|23|25)$/.test(n))) {
    throw new Error(`the CRM filter let through ${crm.join()}`);
  }
}
