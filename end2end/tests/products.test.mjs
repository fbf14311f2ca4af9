// Products in Chromium: an org's owner installs CRM from the package icon on its Organizations
// row and watches the bar and the artifact log reach the end, while a second page sees the same
// run live; uninstalls after a confirmation that lists what goes; the row's count follows. Then
// the same with JavaScript off (plain forms, the page reloading itself until the run ends).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, holdLock, launchBrowser, openPage, register, screenshot, signInThroughPage, sql, unique,
  waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let owner;
let quiet;
const tag = unique();
const orgName = `Products Co ${tag}`;
const quietName = `No Script Co ${tag}`;

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  owner = await register(`products-${tag}@e2e.test`, orgName);
  quiet = await register(`products-nojs-${tag}@e2e.test`, quietName);
});
after(async () => {
  await browser?.close();
});

const crmRow = (page) => page.locator('[data-testid="org-product"][data-product="crm"]');

async function installedCount(page, name) {
  await page.goto(`${BASE_URL}/organizations?q=${encodeURIComponent(name)}`);
  const row = page.getByTestId('org-row').filter({ hasText: name });
  await row.waitFor();
  return (await row.getByTestId('org-products-link').locator('xpath=..').textContent()).trim();
}

describe('Products', () => {
  test('install CRM from the package icon, watched live from a second page; uninstall after confirming', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.goto(`${BASE_URL}/organizations`);
    await waitForHydration(page);
    await page.getByRole('link', { name: `Manage ${orgName}'s products` }).click();
    await crmRow(page).getByTestId('product-status').filter({ hasText: 'Not Installed' }).waitFor();

    const watcher = await openPage(browser);
    await signInThroughPage(watcher, owner.email);
    await watcher.goto(`${BASE_URL}/organizations/${owner.orgId}/products`);
    await waitForHydration(watcher);
    await crmRow(watcher).getByTestId('product-status').filter({ hasText: 'Not Installed' }).waitFor();

    // The engine's worker runs one run at a time, and every org the earlier test files made
    // queued its data stores' provisioning (about 2 s an org): wait until the worker is free,
    // or the run below would still be queued when the lock is released.
    const deadline = Date.now() + 180_000;
    while (sql("select count(*) from product_run where status in ('pending', 'running')") !== '0') {
      assert.ok(Date.now() < deadline, 'the product worker is still busy after 3 minutes');
      await new Promise((r) => setTimeout(r, 500));
    }
    // The fifth step (a skill) waits 8 s (its lock timeout is 10 s) for a lock another session holds, so the
    // run is seen mid-way. Both pages follow it through its progress stream (Server-Sent
    // Events): 4 of 8 done, the fifth running, then the end.
    const { released } = await holdLock('org_skill', 8);
    const streams = [page, watcher].map((p) => p.waitForResponse(
      (r) => r.url().includes('/api/events/product-runs/') && r.status() === 200, { timeout: 30_000 }));
    await crmRow(page).getByRole('button', { name: 'Install CRM' }).click();
    for (const response of await Promise.all(streams)) {
      assert.match(response.headers()['content-type'], /^text\/event-stream/);
    }
    for (const p of [page, watcher]) {
      const row = crmRow(p);
      await row.getByTestId('run-count').filter({ hasText: '4 of 8' }).waitFor();
      await row.locator('[data-testid="run-step"][data-status="running"]').filter({ hasText: 'skill crm_log_activity' }).waitFor();
      assert.equal(await row.getByRole('progressbar').getAttribute('aria-valuenow'), '4');
    }
    await crmRow(watcher).scrollIntoViewIfNeeded();
    await screenshot(watcher, 'products-install-live');
    await released;
    for (const p of [page, watcher]) {
      const row = crmRow(p);
      await row.getByTestId('product-status').filter({ hasText: 'Installed · v1' }).waitFor({ timeout: 60_000 });
      await row.locator('[data-testid="run"][data-status="succeeded"]').waitFor();
      assert.equal(await row.getByTestId('run-count').textContent(), '8 of 8');
      assert.equal(await row.locator('[data-testid="run-step"][data-status="done"]').count(), 8);
      assert.equal(await row.getByRole('progressbar').getAttribute('aria-valuenow'), '8');
    }
    await screenshot(page, 'products-installed');
    assert.equal(page.problems.length, 0, page.problems.join('\n'));
    assert.equal(await installedCount(watcher, orgName), '1');

    // Uninstall: the confirmation lists what goes, with the rows of each table.
    await page.goto(`${BASE_URL}/organizations/${owner.orgId}/products`);
    await waitForHydration(page);
    await crmRow(page).getByRole('link', { name: 'Uninstall CRM' }).click();
    const confirm = page.getByTestId('uninstall-confirm');
    await confirm.waitFor();
    const listed = await confirm.textContent();
    for (const table of ['company', 'contact', 'deal', 'activity']) {
      assert.ok(listed.includes(`table ${table} (0 row(s))`), listed);
    }
    await screenshot(page, 'products-uninstall-confirm');
    await confirm.getByRole('button', { name: 'Uninstall CRM' }).click();
    await crmRow(page).getByTestId('product-status').filter({ hasText: 'Not Installed' }).waitFor({ timeout: 60_000 });
    await crmRow(page).locator('[data-testid="run"][data-status="succeeded"]').waitFor();
    assert.equal(await installedCount(page, orgName), '0');
    await page.close();
    await watcher.close();
  });
});

describe('Products, JavaScript disabled', () => {
  test('installs and uninstalls with plain forms; the page reloads itself until the run ends', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await signInThroughPage(page, quiet.email, { js: false });
    await page.goto(`${BASE_URL}/organizations/${quiet.orgId}/products`);
    await crmRow(page).getByRole('button', { name: 'Install CRM' }).click();
    await crmRow(page).getByTestId('product-status').filter({ hasText: 'Installed · v1' }).waitFor({ timeout: 60_000 });
    assert.equal(await crmRow(page).getByTestId('run-count').textContent(), '8 of 8');
    await crmRow(page).getByRole('link', { name: 'Uninstall CRM' }).click();
    await page.getByTestId('uninstall-confirm').getByRole('button', { name: 'Uninstall CRM' }).click();
    await crmRow(page).getByTestId('product-status').filter({ hasText: 'Not Installed' }).waitFor({ timeout: 60_000 });
    await page.close();
  });
});
