// Custom domains, the Isolation page and Your account in Chromium. An owner adds a domain, sees
// the TXT record to publish, publishes it on a real nameserver (dnsmasq, on the port the served
// app asks: TENANTRY_E2E_DNS_PORT), checks it and sees it verified; requests with that Host then
// reach the org, and stop once it is removed. A superadmin reads the isolation evidence. A
// member signs out another of their sessions.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import dns from 'node:dns/promises';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

const tag = unique();
const DNS_PORT = Number(process.env.TENANTRY_E2E_DNS_PORT ?? 0);
let browser;
let owner;
let dnsmasq;

/** Serves exactly these TXT records on the app's nameserver port (restarting dnsmasq). */
async function publish(records) {
  if (dnsmasq) {
    const exited = new Promise((resolve) => dnsmasq.once('exit', resolve));
    dnsmasq.kill();
    await exited;
  }
  const binary = existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq';
  dnsmasq = spawn(binary, [
    '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts',
    '--listen-address=127.0.0.1', '--bind-interfaces', '--pid-file=', '--local=/example/',
    `--port=${DNS_PORT}`, ...records.map(([name, value]) => `--txt-record=${name},${value}`),
  ], { stdio: 'ignore' });
  let exited = null;
  dnsmasq.once('exit', (code) => { exited = code; });
  // Ready when a query gets an answer (no such name counts).
  const resolver = new dns.Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`127.0.0.1:${DNS_PORT}`]);
  for (let i = 0; i < 100; i++) {
    if (exited !== null) throw new Error(`dnsmasq exited (${exited}) on port ${DNS_PORT}`);
    try {
      await resolver.resolveTxt('ready.probe.example');
      return;
    } catch (e) {
      if (e.code === 'ENOTFOUND' || e.code === 'ENODATA') return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dnsmasq does not answer on port ${DNS_PORT}`);
}

/** The org `orgs/current_org` answers for a request with `Host: host`, or the status. */
function orgAtHost(host, token) {
  return new Promise((resolve, reject) => {
    const url = new URL(`${BASE_URL}/api/orgs/current_org`);
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
      headers: {
        host, authorization: `Bearer ${token}`, accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      },
    }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(res.statusCode === 200 ? JSON.parse(body).id : res.statusCode));
    });
    req.on('error', reject);
    req.end('');
  });
}

before(async () => {
  assert.ok(DNS_PORT > 0, 'TENANTRY_E2E_DNS_PORT is set (run through ./tenantry test)');
  await waitForServer();
  browser = await launchBrowser();
  owner = await register(`domains-owner-${tag}@e2e.test`, `Domains Co ${tag}`);
});
after(async () => {
  dnsmasq?.kill();
  await browser?.close();
});

describe('Custom domains', () => {
  test('add, publish the TXT record, check, route, remove', async () => {
    const domain = `assistant.${tag}.example`;
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.goto(`${BASE_URL}/organizations/${owner.orgId}/domains`);
    await waitForHydration(page);
    const tab = page.getByTestId('domains-tab');
    await tab.getByTestId('domains-empty').waitFor();

    // Bad input: the field says what is wrong.
    const form = page.getByTestId('add-domain-form');
    await form.getByLabel('Domain').fill(`https://${domain}/`);
    await form.getByRole('button', { name: 'Add domain' }).click();
    await form.getByText('Enter a domain name only').waitFor();

    await form.getByLabel('Domain').fill(domain);
    await form.getByRole('button', { name: 'Add domain' }).click();
    const row = tab.locator(`[data-testid="domain"][data-domain="${domain}"]`);
    await row.getByTestId('domain-status').getByText('Pending').waitFor();
    assert.equal(await row.getByTestId('domain-record-name').inputValue(), `_tenantry-challenge.${domain}`);
    const token = await row.getByTestId('domain-token').inputValue();
    assert.match(token, /^tenantry-verify-[0-9a-f]{32}$/);
    assert.ok([403, 404].includes(await orgAtHost(domain, owner.token)), 'a pending domain routes nowhere');
    await screenshot(page, 'domains-pending');

    await publish([[`_tenantry-challenge.${domain}`, token]]);
    await row.getByRole('button', { name: `Check ${domain} now` }).click();
    await row.getByTestId('domain-status').getByText('Verified').waitFor();
    await screenshot(page, 'domains-verified');
    assert.equal(await orgAtHost(domain, owner.token), owner.orgId);

    // Removing asks first; then the domain routes nowhere.
    await row.getByText('Remove…').click();
    await row.getByRole('button', { name: `Remove ${domain}: it stops routing at once` }).click();
    await tab.getByTestId('domains-empty').waitFor();
    assert.ok([403, 404].includes(await orgAtHost(domain, owner.token)), 'a removed domain routes nowhere');
    await page.close();
  });
});

describe('Isolation evidence', () => {
  test('a superadmin reads every check and downloads the report', async () => {
    const root = await register(`domains-root-${tag}@e2e.test`, `Domains Root ${tag}`);
    sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.getByRole('navigation', { name: 'Sections' }).first().getByRole('link', { name: 'Isolation' }).click();
    await page.waitForURL(`${BASE_URL}/isolation`);
    const summary = page.getByTestId('isolation-summary');
    await summary.waitFor();
    assert.equal(await summary.getAttribute('data-failed'), '0', await summary.textContent());
    const tables = await page.getByTestId('isolation-check').filter({ hasText: 'public.membership' }).count();
    assert.equal(tables, 1);
    await screenshot(page, 'isolation');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('isolation-download').click(),
    ]);
    assert.match(download.suggestedFilename(), /^tenantry-isolation-report-\d{4}-\d{2}-\d{2}\.html$/);
    await page.close();

    // Not for an org's owner: no link, and the page is refused.
    const own = await callServerFn('isolation/isolation_checks', {}, owner.token);
    assert.equal(own.status, 403, own.body);
  });
});

describe('Your account', () => {
  test('see your sessions and sign another out', async () => {
    const other = await callServerFn('auth/sign_in', { email: owner.email, password: 'e2e password 123' });
    assert.ok(other.token);
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.getByRole('navigation', { name: 'Sections' }).first().getByRole('link', { name: 'Your account' }).click();
    await page.waitForURL(`${BASE_URL}/account`);
    await waitForHydration(page);
    const sessions = page.getByTestId('session');
    await sessions.first().waitFor();
    assert.ok(await sessions.count() >= 2);
    await page.locator('[data-testid="session"][data-current="true"]').getByText('This session').waitFor();
    await screenshot(page, 'account');
    await page.getByTestId('sign-out-others').click();
    await page.getByText('Your other sessions were signed out.').first().waitFor();
    await page.locator('[data-testid="session"][data-current="false"]').first().waitFor({ state: 'detached' });
    const gone = await callServerFn('account/my_account', {}, other.token);
    assert.equal(gone.status, 401, gone.body);
    await page.close();
  });
});
