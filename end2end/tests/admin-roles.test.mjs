// Every Organizations and Users flow as the two kinds of admin below a superadmin (whose runs
// are in organizations.test.mjs and users.test.mjs):
// - an agency's org admin, who administers its own org and 27 client orgs;
// - a bound client admin, the owner of one client org it is locked to (and, to prove the lock,
//   admin of one more org it must never see).
// Both create a user in their org and disable and re-enable it from the Users page.
// Each does what its role allows (list, search, sort, filter, pages, edit every tab with the
// inline errors, disable and re-enable) and is refused, with the reason, what it does not
// (create an org, delete one, enable one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, addMember, callServerFn, launchBrowser, openPage, register, screenshot,
  signInThroughPage, sql, unique, waitForHydration, waitForServer, walkOrgTable,
} from '../support.mjs';

let browser;
let root;
let agency;
let client;
const clientOrgs = [];
const tag = unique();

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`roles-root-${tag}@e2e.test`, `Roles Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  agency = await register(`roles-agency-${tag}@e2e.test`, `Agency Home ${tag}`);
  client = await register(`roles-client-${tag}@e2e.test`, `Bound Co ${tag}`);
  for (let n = 0; n < 27; n++) {
    const res = await callServerFn('orgs/create_org', {
      'org[name]': `Client ${tag} ${String(n).padStart(2, '0')}`,
      'org[domain]': `client-${n}-${tag}.example`,
      'org[product]': n % 2 ? 'crm' : 'aafya',
      'org[status]': 'active',
    }, root.token);
    assert.equal(res.status, 200, res.body);
    clientOrgs.push(JSON.parse(res.body));
    addMember(clientOrgs[n], agency.userId, 'admin');
  }
  // The client admin also administers Client 00, but is locked to its own org.
  addMember(clientOrgs[0], client.userId, 'admin');
  sql(`update app_user set bound_org_id = '${client.orgId}' where user_id = '${client.userId}'`);
  for (const org of [agency.orgId, client.orgId, clientOrgs[2]]) {
    for (let n = 1; n <= 20; n++) {
      const r = await callServerFn('orgs/add_role', { org_id: org, role_name: `crew-${n}` }, root.token);
      assert.ok(r.status < 400, r.body);
    }
  }
});
after(async () => {
  await browser?.close();
});

const tableNames = (page) => page.getByTestId('org-name').allTextContents();
const orgCount = (id) => Number(sql(`select count(*) from organization where org_id = '${id}'`));
/** Problems on the page other than the refusals and validation answers a flow provokes. */
const unexpected = (page) => page.problems.filter((p) => !/status of (400|403|409)/.test(p));

/** Creating an org is not offered; the address explains; the server answers 403. */
async function createIsRefused(page, who) {
  await page.goto(`${BASE_URL}/organizations`);
  await page.getByTestId('summary-cards').waitFor();
  assert.equal(await page.getByRole('link', { name: 'New Organization' }).count(), 0);
  await page.goto(`${BASE_URL}/organizations/new`);
  await page.getByTestId('create-refused').filter({ hasText: 'Only a platform superadmin' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Create organization' }).count(), 0);
  const name = `Sneaky ${tag} ${who.email}`;
  const res = await callServerFn('orgs/create_org', {
    'org[name]': name, 'org[domain]': `sneaky-${unique()}.example`,
    'org[product]': 'crm', 'org[status]': 'active',
  }, who.token);
  assert.equal(res.status, 403, res.body);
  assert.equal(sql(`select count(*) from organization where name = '${name}'`), '0');
}

/** Basic Info (bad domain, duplicate name, then saved), Address, Subscription (read-only: the
 * plan and seats are the platform's) and Roles (a 21st role refused). The dialog is already open
 * on Basic Info. */
async function editEveryTab(page, { takenName, newName, shot }) {
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Title').waitFor();
  await dialog.getByLabel('Domain').fill('not a domain');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByText('This is not a valid domain').waitFor();
  await dialog.getByLabel('Domain').fill(`${unique()}.example`);
  await dialog.getByLabel('Title').fill(takenName);
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByText('An organization with this name already exists.').waitFor();
  assert.equal(await page.locator('#edit-name').getAttribute('aria-invalid'), 'true');
  await screenshot(page, `${shot}-edit-errors`);
  await dialog.getByLabel('Title').fill(newName);
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.getByTestId('toast').filter({ hasText: 'Saved.' }).waitFor();
  await page.waitForFunction((t) => document.querySelector('#dialog-title')?.textContent.includes(t), newName);
  // Toasts go away by themselves.
  await page.getByTestId('toast').waitFor({ state: 'detached', timeout: 10_000 });

  await dialog.getByRole('link', { name: 'Address' }).click();
  await dialog.getByLabel('City').fill('Riyadh');
  await dialog.getByLabel('ZIP code').fill('12271');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.getByTestId('toast').waitFor();

  await dialog.getByRole('link', { name: 'Subscription' }).click();
  await dialog.getByTestId('subscription-readonly').waitFor();
  assert.equal(await dialog.getByLabel('Plan name').count(), 0, 'an org admin cannot edit its plan');
  assert.equal(await dialog.getByRole('button', { name: 'Save' }).count(), 0);
  await screenshot(page, `${shot}-subscription-readonly`);

  await dialog.getByRole('link', { name: 'Roles' }).click();
  await dialog.getByText('20 of 20 custom roles').waitFor();
  await dialog.getByLabel('New role name').fill('analyst');
  await dialog.getByRole('button', { name: 'Add role' }).click();
  await dialog.getByText('at most 20 custom roles').waitFor();
  await screenshot(page, `${shot}-edit-roles`);
}

/** Delete is not offered; its address explains; the server answers 403 and the org stays. */
async function deleteIsRefused(page, who, orgId, switchTo) {
  if (switchTo) {
    await page.goto(`${BASE_URL}/organizations/${orgId}/edit`);
    await Promise.all([
      page.waitForURL(`${BASE_URL}/organizations/${orgId}/edit`),
      page.getByRole('button', { name: `Switch to ${switchTo}` }).click(),
    ]);
  }
  await page.goto(`${BASE_URL}/organizations/${orgId}/edit`);
  await page.getByRole('dialog').getByLabel('Title').waitFor();
  assert.equal(await page.getByRole('link', { name: 'Delete…' }).count(), 0);
  await page.goto(`${BASE_URL}/organizations/${orgId}/confirm/delete`);
  await page.getByTestId('confirm-body').filter({ hasText: 'Only a platform superadmin can delete' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Delete organization' }).count(), 0);
  const res = await callServerFn('orgs/delete_org', { org_id: orgId }, who.token);
  assert.equal(res.status, 403, res.body);
  assert.equal(orgCount(orgId), 1);
}

/** Creates a user in the active org from the Users page (a password too short first), disables
 * it, finds it under Disabled, and enables it again; the permission editor's role select saves
 * too. */
async function createDisableAndEnableUser(page, { name, role, shot }) {
  const email = `${name.toLowerCase().replace(/ /g, '-')}-${tag}@e2e.test`;
  await page.goto(`${BASE_URL}/users`);
  await waitForHydration(page);
  await page.getByRole('link', { name: 'New User' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Email').fill(email);
  await dialog.getByLabel('Initial password').fill('short');
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await dialog.getByText('Use at least 10 characters.').waitFor();
  await dialog.getByLabel('Initial password').fill('a long enough password');
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await page.getByTestId('toast').filter({ hasText: 'User created.' }).waitFor();
  const worker = { email, userId: sql(`select user_id from app_user where email = '${email}'`) };
  assert.equal(sql(`select org_id from membership where user_id = '${worker.userId}'`), page.activeOrgId);
  await page.keyboard.press('Escape');
  await page.waitForURL((url) => url.pathname === '/users');

  const opener = page.getByTestId('user-name').filter({ hasText: name });
  await opener.click();
  await dialog.getByLabel('Status').waitFor();
  // Tab stays inside the dialog, both ways.
  const focusInside = () => page.evaluate(() => document.querySelector('[role=dialog]').contains(document.activeElement));
  for (const key of ['Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Tab', 'Tab']) {
    await page.keyboard.press(key);
    assert.ok(await focusInside(), `focus left the dialog after ${key}`);
  }

  await dialog.getByLabel('Status').selectOption('disabled');
  await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/members/update_user') && r.ok()),
    dialog.getByRole('button', { name: 'Save user' }).click(),
  ]);
  await page.getByTestId('toast').filter({ hasText: 'Saved.' }).waitFor();

  // The permission editor offers the org's roles to choose from.
  const perms = page.getByTestId('membership-form');
  const options = await perms.getByLabel('Role').locator('option').allTextContents();
  assert.ok(options.includes('user') && options.includes('crew-20'), options.join());
  await perms.getByLabel('Role').selectOption(role);
  await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/members/set_membership') && r.ok()),
    perms.getByRole('button', { name: 'Save permissions' }).click(),
  ]);
  await page.waitForFunction((r) => document.querySelector('[data-testid="membership-form"] select')?.value === r, role);
  await screenshot(page, `${shot}-user-edit`);

  // Escape closes it and gives the focus back to the link that opened it.
  await page.keyboard.press('Escape');
  await page.waitForURL((url) => url.pathname === '/users');
  await page.waitForFunction((name) => document.activeElement?.textContent?.includes(name), name);

  await page.getByRole('list', { name: 'Status filter' }).getByRole('link', { name: 'Disabled' }).click();
  await page.waitForURL(/status=disabled/);
  await page.getByTestId('user-name').filter({ hasText: name }).waitFor();
  assert.equal(sql(`select status from app_user where user_id = '${worker.userId}'`), 'disabled');
  assert.equal(sql(`select m.role_name from membership m join app_user u using (user_id)
                     where u.user_id = '${worker.userId}' and m.org_id = '${page.activeOrgId}'`), role);

  await page.getByTestId('user-name').filter({ hasText: name }).click();
  await dialog.getByLabel('Status').selectOption('active');
  await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/members/update_user') && r.ok()),
    dialog.getByRole('button', { name: 'Save user' }).click(),
  ]);
  // The save lands on the dialog's own address with `saved`; close it only then.
  await page.waitForURL(/saved=1/);
  await page.keyboard.press('Escape');
  await page.waitForURL((url) => url.pathname === '/users');
  await page.getByRole('list', { name: 'Status filter' }).getByRole('link', { name: 'Active' }).click();
  await page.waitForURL(/status=active/);
  await page.getByTestId('user-name').filter({ hasText: name }).waitFor();
  assert.equal(sql(`select status from app_user where user_id = '${worker.userId}'`), 'active');
}

describe('An agency org admin', () => {
  test('lists, searches, sorts, filters and pages through the orgs it administers', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, agency.email);
    await page.getByRole('link', { name: 'Organizations' }).first().click();
    await page.getByTestId('summary-cards').waitFor();
    await waitForHydration(page);
    assert.match(await page.getByTestId('summary-cards').textContent(), /Total organizations28/);

    await walkOrgTable(page, `Client ${tag}`);
    await screenshot(page, 'org-admin-organizations');
    assert.deepEqual(unexpected(page), []);
  });

  test('cannot create an organization, and is told why', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, agency.email);
    await createIsRefused(page, agency);
    await screenshot(page, 'org-admin-create-refused');
  });

  test('edits every tab of a client org from its detail view, with inline errors', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, agency.email);
    await page.goto(`${BASE_URL}/organizations?q=${encodeURIComponent(`Client ${tag} 02`)}`);
    await waitForHydration(page);
    await page.getByTestId('org-name').first().click();
    // It is acting in its own org: the gate takes one org per request, so it is offered the switch.
    await page.getByTestId('switch-prompt').filter({ hasText: `You are working in Agency Home ${tag}` }).waitFor();
    await screenshot(page, 'org-admin-switch-prompt');
    await Promise.all([
      page.waitForURL(`${BASE_URL}/organizations/${clientOrgs[2]}`),
      page.getByRole('button', { name: `Switch to Client ${tag} 02` }).click(),
    ]);
    await page.getByTestId('org-overview').waitFor();
    assert.match(await page.getByTestId('active-org').textContent(), new RegExp(`Client ${tag} 02`));
    await waitForHydration(page);
    await page.getByRole('dialog').getByRole('link', { name: 'Edit…' }).click();
    await editEveryTab(page, { takenName: `Client ${tag} 03`, newName: `Client ${tag} 02 Renamed`, shot: 'org-admin' });
    assert.equal(sql(`select city || '/' || name from organization where org_id = '${clientOrgs[2]}'`),
      `Riyadh/Client ${tag} 02 Renamed`);
    // Entitlements are the platform's: the server refuses the org admin too.
    const sub = await callServerFn('billing/update_subscription', {
      org_id: clientOrgs[2], plan_name: 'enterprise', seats: '40', platform: 'custom', status: 'active',
    }, agency.token);
    assert.equal(sub.status, 403, sub.body);
    assert.equal(sql(`select count(*) from subscription where org_id = '${clientOrgs[2]}' and plan_name = 'enterprise'`), '0');
    assert.deepEqual(unexpected(page), []);
  });

  test('disables a client org (a superadmin re-enables it) and disables and re-enables a user', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, agency.email);
    await page.goto(`${BASE_URL}/organizations/${clientOrgs[4]}/edit`);
    await Promise.all([
      page.waitForURL(`${BASE_URL}/organizations/${clientOrgs[4]}/edit`),
      page.getByRole('button', { name: `Switch to Client ${tag} 04` }).click(),
    ]);
    await waitForHydration(page);
    await page.getByRole('dialog').getByRole('link', { name: 'Disable…' }).click();
    await page.getByTestId('confirm-body').filter({ hasText: 'You lose access too' }).waitFor();
    await page.getByRole('button', { name: 'Disable organization' }).click();
    await page.getByTestId('toast').filter({ hasText: `Organization “Client ${tag} 04” disabled.` }).waitFor();
    assert.equal(sql(`select status from organization where org_id = '${clientOrgs[4]}'`), 'disabled');
    // Enabling is the platform's: the org admin is told, not offered a button.
    await page.goto(`${BASE_URL}/organizations/${clientOrgs[4]}/confirm/enable`);
    await page.getByRole('alert').filter({ hasText: 'Only a platform superadmin can enable it again' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Enable organization' }).count(), 0);
    await screenshot(page, 'org-admin-enable-refused');
    assert.equal((await callServerFn('orgs/enable_org', { org_id: clientOrgs[4] }, agency.token)).status, 403);

    const rootPage = await openPage(browser);
    await signInThroughPage(rootPage, root.email);
    await rootPage.goto(`${BASE_URL}/organizations/${clientOrgs[4]}/confirm/enable`);
    await waitForHydration(rootPage);
    await rootPage.getByRole('button', { name: 'Enable organization' }).click();
    await rootPage.getByTestId('toast').filter({ hasText: 'enabled' }).waitFor();
    assert.equal(sql(`select status from organization where org_id = '${clientOrgs[4]}'`), 'active');

    // Back to its own org with the switcher.
    await page.goto(`${BASE_URL}/organizations`);
    await waitForHydration(page);
    await page.locator('#org-switch').selectOption(agency.orgId);
    await Promise.all([page.waitForURL(`${BASE_URL}/`), page.getByRole('button', { name: 'Switch' }).click()]);
    page.activeOrgId = agency.orgId;
    await createDisableAndEnableUser(page, { name: 'Agency Worker', role: 'crew-7', shot: 'org-admin' });
    assert.deepEqual(unexpected(page), []);
  });

  test('is refused deleting an org, with the reason', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, agency.email);
    await deleteIsRefused(page, agency, clientOrgs[5], `Client ${tag} 05`);
    await screenshot(page, 'org-admin-delete-refused');
  });
});

describe('A bound client admin', () => {
  test('sees only its client org, locked, with search, sort, filter and pages', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, client.email);
    assert.equal(await page.getByTestId('org-locked').textContent(), 'Locked');
    await page.goto(`${BASE_URL}/organizations`);
    await waitForHydration(page);
    assert.deepEqual(await tableNames(page), [`Bound Co ${tag}`], 'not Client 00, where it is also admin');
    assert.match(await page.getByTestId('summary-cards').textContent(), /Total organizations1/);
    await page.getByTestId('page-info').filter({ hasText: 'Showing 1–1 of 1' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Next' }).count(), 0);

    await page.getByLabel('Search organizations').fill(`Client ${tag}`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=Client/);
    await page.getByTestId('empty-filtered').waitFor();
    await page.getByLabel('Search organizations').fill(`Bound Co`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=Bound/);
    // The table (and its sortable headers) is back before a header is clicked.
    await page.getByTestId('org-name').filter({ hasText: `Bound Co ${tag}` }).waitFor();
    await page.getByRole('link', { name: 'User count' }).click();
    await page.waitForURL(/sort=users&dir=asc/);
    assert.deepEqual(await tableNames(page), [`Bound Co ${tag}`]);
    await page.getByRole('list', { name: 'Product filter' }).getByRole('link', { name: 'Done' }).click();
    await page.waitForURL(/product=done/);
    await page.getByTestId('empty-filtered').waitFor();
    // Another org's address is refused even though it holds an admin role there.
    await page.goto(`${BASE_URL}/organizations/${clientOrgs[0]}`);
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByTestId('org-overview').count(), 0);
    await screenshot(page, 'bound-user-other-org-refused');
    assert.deepEqual(unexpected(page), []);
  });

  test('cannot create an organization, and is told why', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, client.email);
    await createIsRefused(page, client);
  });

  test('edits every tab of its org, with inline errors', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, client.email);
    await page.goto(`${BASE_URL}/organizations`);
    await waitForHydration(page);
    await page.getByTestId('org-name').first().click();
    await page.getByRole('dialog').getByRole('link', { name: 'Edit…' }).click();
    await editEveryTab(page, { takenName: `Agency Home ${tag}`, newName: `Bound Co ${tag} Ltd`, shot: 'bound-user' });
    assert.equal(sql(`select name from organization where org_id = '${client.orgId}'`), `Bound Co ${tag} Ltd`);
    assert.deepEqual(unexpected(page), []);
  });

  test('disables and re-enables a user; disabling its own org is explained first', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, client.email);
    page.activeOrgId = client.orgId;
    await createDisableAndEnableUser(page, { name: 'Client Worker', role: 'viewer', shot: 'bound-user' });
    await page.goto(`${BASE_URL}/organizations/${client.orgId}/confirm/disable`);
    await waitForHydration(page);
    await page.getByTestId('confirm-body').filter({ hasText: 'You lose access too' }).waitFor();
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL(/\/edit$/);
    assert.equal(sql(`select status from organization where org_id = '${client.orgId}'`), 'active');
    assert.deepEqual(unexpected(page), []);
  });

  test('is refused deleting its org, with the reason', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, client.email);
    await deleteIsRefused(page, client, client.orgId);
  });
});
