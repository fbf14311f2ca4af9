// The Organizations page in Chromium: cards, filter, search, sort, pages and the New
// Organization dialog, with JavaScript on and off, for a superadmin, an org admin and a bound
// user.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, addMember, callServerFn, launchBrowser, openPage, register, screenshot,
  signInThroughPage, sql, unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let root;
let admin;
let bound;
const tag = unique();
before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`orgs-root-${tag}@e2e.test`, `Root Workspace ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  // Enough orgs for a second page, in two products.
  for (let n = 0; n < 27; n++) {
    const res = await callServerFn('orgs/create_org', {
      'org[name]': `Fleet ${tag} ${String(n).padStart(2, '0')}`,
      'org[domain]': `fleet-${n}-${tag}.example`,
      'org[product]': n % 2 ? 'crm' : 'aafya',
      'org[status]': 'active',
    }, root.token);
    assert.equal(res.status, 200, res.body);
  }
  admin = await register(`orgs-admin-${tag}@e2e.test`, `Admin Own ${tag}`);
  bound = await register(`orgs-bound-${tag}@e2e.test`, `Bound Client ${tag}`);
  const boundOrg = bound.orgId;
  sql(`update membership set role_name = 'member' where user_id = '${bound.userId}'`);
  sql(`update app_user set bound_org_id = '${boundOrg}' where user_id = '${bound.userId}'`);
});
after(async () => {
  await browser?.close();
});

const tableNames = (page) => page.getByTestId('org-name').allTextContents();

describe('Organizations, superadmin, hydrated', () => {
  test('cards, search, product filter, sort and pages', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.getByRole('link', { name: 'Organizations' }).first().click();
    await page.getByTestId('summary-cards').waitFor();
    await waitForHydration(page);
    assert.match(await page.getByTestId('summary-cards').textContent(), /Total organizations\d+/);

    await page.getByLabel('Search organizations').fill(`Fleet ${tag}`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=Fleet/);
    await page.getByTestId('page-info').filter({ hasText: 'of 27' }).waitFor();
    assert.equal((await tableNames(page)).length, 25);

    await page.getByRole('link', { name: 'Title' }).click();
    await page.waitForURL(/sort=title&dir=asc/);
    await page.getByTestId('org-name').first().filter({ hasText: `Fleet ${tag} 00` }).waitFor();
    await page.getByRole('link', { name: 'Title' }).click();
    await page.waitForURL(/sort=title&dir=desc/);
    await page.getByTestId('org-name').first().filter({ hasText: `Fleet ${tag} 26` }).waitFor();

    await page.getByRole('link', { name: 'Next' }).click();
    await page.waitForURL(/page=2/);
    await page.getByTestId('page-info').filter({ hasText: 'Showing 26–27 of 27' }).waitFor();

    await page.getByRole('list', { name: 'Product filter' }).getByRole('link', { name: 'CRM' }).click();
    await page.waitForURL(/product=crm/);
    await page.getByTestId('page-info').filter({ hasText: 'of 13' }).waitFor();
    const names = await tableNames(page);
    assert.ok(names.every((n) => /(01|03|05|07|09|11|13|15|17|19|21|23|25)$/.test(n)), names.join());
    await screenshot(page, 'organizations-superadmin');
    assert.deepEqual(page.problems, []);
  });

  test('New Organization: inline errors for duplicate name and bad domain, then created', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.goto(`${BASE_URL}/organizations`);
    await waitForHydration(page);
    await page.getByRole('link', { name: 'New Organization' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Organization' });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'org-name', 'focus moves into the dialog');

    await dialog.getByLabel('Name').fill(`Fleet ${tag} 03`);
    await dialog.getByLabel('Domain').fill('not a domain');
    await dialog.getByLabel('Product').selectOption('crm');
    await dialog.getByRole('button', { name: 'Create organization' }).click();
    await dialog.getByText('This is not a valid domain').waitFor();

    await dialog.getByLabel('Domain').fill(`fresh-${tag}.example`);
    await dialog.getByRole('button', { name: 'Create organization' }).click();
    await dialog.getByText('An organization with this name already exists.').waitFor();
    await screenshot(page, 'organizations-new-dialog-error');

    await dialog.getByLabel('Name').fill(`Fresh ${tag}`);
    await dialog.getByRole('button', { name: 'Create organization' }).click();
    await page.getByTestId('toast').filter({ hasText: `Organization “Fresh ${tag}” created.` }).waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.ok((await tableNames(page)).includes(`Fresh ${tag}`), 'the new org is listed first');

    // Escape closes the dialog.
    await page.getByRole('link', { name: 'New Organization' }).click();
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await page.waitForURL((url) => url.pathname === '/organizations');
    assert.equal(await page.getByRole('dialog').count(), 0);
  });
});

describe('Organizations, JavaScript disabled', () => {
  test('lists, sorts, filters, searches, pages and creates with plain links and forms', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await signInThroughPage(page, root.email, { js: false });
    await page.goto(`${BASE_URL}/organizations?q=${encodeURIComponent(`Fleet ${tag}`)}`);
    assert.equal((await tableNames(page)).length, 25);
    await page.getByRole('link', { name: 'Title' }).click();
    assert.equal((await tableNames(page))[0], `Fleet ${tag} 00`);
    await page.getByRole('link', { name: 'Next' }).click();
    assert.match(await page.getByTestId('page-info').textContent(), /Showing 26–27 of 27/);
    await page.getByRole('list', { name: 'Product filter' }).getByRole('link', { name: 'Aafya' }).click();
    assert.match(await page.getByTestId('page-info').textContent(), /of 14/);

    await page.getByLabel('Search organizations').fill('no such org at all');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByTestId('empty-filtered').waitFor();

    await page.goto(`${BASE_URL}/organizations/new`);
    const dialog = page.getByRole('dialog', { name: 'New Organization' });
    await dialog.getByLabel('Name').fill(`Plain ${tag}`);
    await dialog.getByLabel('Domain').fill(`plain-${tag}.example`);
    await dialog.getByLabel('Product').selectOption('done');
    await Promise.all([page.waitForURL(/created=/), page.getByRole('button', { name: 'Create organization' }).click()]);
    await page.getByTestId('toast').waitFor();
  });
});

describe('Organizations, other roles', () => {
  test('an org admin sees only its own org and cannot create', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, admin.email);
    await page.goto(`${BASE_URL}/organizations`);
    assert.deepEqual(await tableNames(page), [`Admin Own ${tag}`]);
    assert.equal(await page.getByRole('link', { name: 'New Organization' }).count(), 0);
    await screenshot(page, 'organizations-org-admin');
  });

  test('a bound client user has nothing to manage and sees an empty state', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, bound.email);
    await page.goto(`${BASE_URL}/organizations`);
    await page.getByTestId('empty-state').waitFor();
    assert.equal(await page.getByTestId('org-locked').textContent(), 'Locked');
    await screenshot(page, 'organizations-bound-user');
  });
});
