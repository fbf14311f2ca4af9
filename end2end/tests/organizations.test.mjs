// The Organizations page in Chromium: cards, filter, search, sort, pages and the New
// Organization dialog, with JavaScript on and off, for a superadmin, an org admin and a bound
// user.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, addMember, callServerFn, launchBrowser, openPage, register, screenshot,
  signInThroughPage, sql, unique, waitForHydration, waitForServer, walkOrgTable,
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

    await walkOrgTable(page, `Fleet ${tag}`);
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
    // Focus goes back to the link that opened the dialog.
    await page.waitForFunction(() => document.activeElement?.textContent === 'New Organization');
  });
});

describe('Direct loads', () => {
  test('every dialog and detail tab loads by its address and hydrates without errors', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    const tabs = ['', '/members', '/agents', '/credentials', '/billing', '/products'];
    const addresses = [
      ...tabs.map((tab) => `/organizations/${admin.orgId}${tab}`),
      `/organizations/${admin.orgId}/edit?tab=roles`,
      `/organizations/${admin.orgId}/confirm/disable`,
      '/organizations/new',
      '/users/new',
      `/users/${admin.userId}`,
      '/agents',
    ];
    for (const address of addresses) {
      await page.goto(`${BASE_URL}${address}`);
      await waitForHydration(page);
      if (address !== '/agents') await page.getByRole('dialog').waitFor();
      // Hydrated once: one dialog, not a second copy appended.
      assert.ok(await page.getByRole('dialog').count() <= 1, address);
      assert.deepEqual(page.problems, [], address);
    }
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

describe('Editing an organization', () => {
  let orgId;
  before(async () => {
    const res = await callServerFn('orgs/create_org', {
      'org[name]': `Edit Me ${tag}`, 'org[domain]': `edit-me-${tag}.example`,
      'org[product]': 'eloquent', 'org[status]': 'active',
    }, root.token);
    orgId = JSON.parse(res.body);
    addMember(orgId, admin.userId, 'member');
    for (let n = 1; n <= 20; n++) {
      const r = await callServerFn('orgs/add_role', { org_id: orgId, role_name: `crew-${n}` }, root.token);
      assert.ok(r.status < 400, r.body);
    }
  });

  test('each tab saves; a 21st role, disable/enable and a refused delete', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.goto(`${BASE_URL}/organizations?q=${encodeURIComponent(`Edit Me ${tag}`)}`);
    await waitForHydration(page);
    await page.getByTestId('org-name').first().click();
    const dialog = page.getByRole('dialog');
    // The detail view first: overview, members, billing, and products.
    await page.getByTestId('org-overview').waitFor();
    assert.match(await page.getByTestId('org-overview').textContent(), /Created by.*Created at/);
    assert.equal(await page.getByTestId('health-signal').count(), 2);
    await screenshot(page, 'organizations-detail-overview');
    await dialog.getByRole('link', { name: 'Members' }).click();
    await page.getByTestId('org-members').filter({ hasText: admin.email }).waitFor();
    await screenshot(page, 'organizations-detail-members');
    await dialog.getByRole('link', { name: 'Billing & Costs' }).click();
    await page.getByTestId('billing-tab').waitFor();
    await dialog.getByRole('link', { name: 'Products' }).click();
    await page.getByTestId('org-products').waitFor();
    await dialog.getByRole('link', { name: 'Edit…' }).click();
    await dialog.getByLabel('Title').waitFor();

    await dialog.getByLabel('Title').fill(`Edited ${tag}`);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByTestId('toast').waitFor();
    await page.waitForFunction((t) => document.querySelector('#dialog-title')?.textContent.includes(t), `Edited ${tag}`);

    await dialog.getByRole('link', { name: 'Address' }).click();
    await dialog.getByLabel('City').fill('Jeddah');
    await dialog.getByLabel('ZIP code').fill('21577');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByTestId('toast').waitFor();

    await dialog.getByRole('link', { name: 'Subscription' }).click();
    await dialog.getByLabel('Plan name').fill('pro_monthly');
    await dialog.getByLabel('Seats').fill('25');
    await dialog.getByLabel('Status').selectOption('past_due');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('Payment is past due').waitFor();
    await screenshot(page, 'organizations-edit-subscription');

    await dialog.getByRole('link', { name: 'Roles' }).click();
    await dialog.getByText('20 of 20 custom roles').waitFor();
    await dialog.getByLabel('New role name').fill('analyst');
    await dialog.getByRole('button', { name: 'Add role' }).click();
    await dialog.getByText('at most 20 custom roles').waitFor();
    await screenshot(page, 'organizations-edit-roles');

    await dialog.getByRole('link', { name: 'Basic Info' }).click();
    await dialog.getByRole('link', { name: 'Disable…' }).click();
    await page.getByTestId('confirm-body').filter({ hasText: 'lose access at once' }).waitFor();
    await page.getByRole('button', { name: 'Disable organization' }).click();
    await page.getByTestId('toast').filter({ hasText: `Organization “Edited ${tag}” disabled.` }).waitFor();

    await page.goto(`${BASE_URL}/organizations/${orgId}/confirm/enable`);
    await waitForHydration(page);
    await page.getByRole('button', { name: 'Enable organization' }).click();
    await page.getByTestId('toast').filter({ hasText: 'enabled' }).waitFor();

    await page.goto(`${BASE_URL}/organizations/${orgId}/confirm/delete`);
    await waitForHydration(page);
    assert.match(await page.getByTestId('confirm-body').textContent(), /permanently deletes.*1 member/s);
    await page.getByRole('button', { name: 'Delete organization' }).click();
    await page.getByRole('alert').filter({ hasText: 'still has 1 member' }).waitFor();
    await screenshot(page, 'organizations-delete-refused');
    assert.deepEqual(page.problems.filter((p) => !/status of (400|409)/.test(p)), []);
  });

  test('JavaScript off: the address tab saves with a plain form post', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await signInThroughPage(page, root.email, { js: false });
    await page.goto(`${BASE_URL}/organizations/${orgId}/edit?tab=address`);
    await page.getByLabel('Country').fill('Saudi Arabia');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Save' }).click()]);
    await page.goto(`${BASE_URL}/organizations/${orgId}/edit?tab=address`);
    assert.equal(await page.getByLabel('Country').inputValue(), 'Saudi Arabia');
    assert.equal(await page.getByLabel('City').inputValue(), 'Jeddah');
  });
});
