// The Users page in Chromium: listing, search and status filter, creating a user, disabling,
// binding to a client organization, and the permission editor; with JavaScript on and off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, addMember, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let root;
let owner;
const tag = unique();
before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`users-root-${tag}@e2e.test`, `Users Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  owner = await register(`users-owner-${tag}@e2e.test`, `Users Org ${tag}`);
  const extra = await register(`users-extra-${tag}@e2e.test`, `Extra Org ${tag}`);
  addMember(owner.orgId, extra.userId, 'member');
});
after(async () => {
  await browser?.close();
});

const rowNames = (page) => page.getByTestId('user-name').allTextContents();

describe('Users, org owner, hydrated', () => {
  test('lists its members, creates a user with inline errors, binds and disables it', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.getByRole('link', { name: 'Users' }).first().click();
    await page.getByTestId('users-table').waitFor();
    await waitForHydration(page);
    assert.deepEqual((await rowNames(page)).sort(), [`users-extra-${tag}`, `users-owner-${tag}`].sort());

    await page.getByRole('link', { name: 'New User' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Fatima');
    await dialog.getByLabel('Email').fill(`fatima-${tag}@e2e.test`);
    await dialog.getByLabel('Initial password').fill('short');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await dialog.getByText('Use at least 10 characters.').waitFor();
    await dialog.getByLabel('Initial password').fill('a long enough password');
    await dialog.getByLabel('Role').selectOption('viewer');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await page.getByTestId('toast').filter({ hasText: 'User created.' }).waitFor();

    // The client user, set up as the documents say: the Client Organization, the sections
    // (Billing only), then "Save permissions", which saves both.
    await dialog.getByLabel('Client Organization').selectOption({ label: `Users Org ${tag} (locked)` });
    const perms = page.getByTestId('membership-form');
    for (const box of await perms.getByRole('checkbox').all()) await box.uncheck();
    await perms.getByLabel('Billing').check();
    await perms.getByRole('button', { name: 'Save permissions' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Saved.' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="membership-form"] input[type=checkbox]:checked').length === 1);
    assert.equal(sql(`select bound_org_id from app_user where email = 'fatima-${tag}@e2e.test'`), owner.orgId);

    // Disable.
    await dialog.getByLabel('Status').selectOption('disabled');
    // The permissions toast is still up: wait for this save's own answer.
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/members/update_user') && r.ok()),
      dialog.getByRole('button', { name: 'Save user' }).click(),
    ]);
    await page.waitForFunction(() => document.querySelector('#user-status')?.value === 'disabled'
      && document.querySelector('[data-testid="toast"]'));
    await screenshot(page, 'users-edit');
    await page.keyboard.press('Escape');
    await page.waitForURL((url) => url.pathname === '/users');
    await page.getByRole('list', { name: 'Status filter' }).getByRole('link', { name: 'Disabled' }).click();
    await page.waitForURL(/status=disabled/);
    await page.getByTestId('user-name').filter({ hasText: 'Fatima' }).waitFor();
    assert.match(await page.getByTestId('users-table').textContent(), /locked to its client organization/);
    assert.deepEqual(page.problems.filter((p) => !/status of 400/.test(p)), []);
  });
});

describe('Users, superadmin', () => {
  test('JavaScript off: every user, search and status links, and an edit saved by a plain post', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await signInThroughPage(page, root.email, { js: false });
    await page.goto(`${BASE_URL}/users?q=${encodeURIComponent(tag)}`);
    const names = await rowNames(page);
    assert.ok(names.length >= 4, names.join());
    assert.match(await page.getByTestId('users-table').textContent(), /Extra Org .*Users Org|Users Org .*Extra Org/s);
    await page.getByRole('list', { name: 'Status filter' }).getByRole('link', { name: 'Active' }).click();
    assert.ok(!(await rowNames(page)).includes('Fatima'), 'Fatima is disabled');
    await screenshot(page, 'users-superadmin');

    await page.getByTestId('user-name').filter({ hasText: `users-extra-${tag}` }).click();
    await page.getByLabel('Name').fill(`Extra Renamed ${tag}`);
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Save user' }).click()]);
    await page.goto(`${BASE_URL}/users?q=${encodeURIComponent(`Extra Renamed ${tag}`)}`);
    assert.deepEqual(await rowNames(page), [`Extra Renamed ${tag}`]);
  });
});
