// Sign-in, sign-out and switching organizations in Chromium, against the served app.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, addMember, launchBrowser, openPage, register, signInThroughPage, sql, unique,
  waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let admin;   // member of two orgs
let bound;   // a client user locked to one org
let root;    // a superadmin
let other;   // an org nobody above belongs to
before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  const u = unique();
  admin = await register(`admin-${u}@e2e.test`, `Admin Home ${u}`);
  const second = await register(`second-${u}@e2e.test`, `Second Org ${u}`);
  addMember(second.orgId, admin.userId, 'admin');
  admin.secondOrgId = second.orgId;
  bound = await register(`bound-${u}@e2e.test`, `Bound Org ${u}`);
  sql(`update app_user set bound_org_id = '${bound.orgId}' where user_id = '${bound.userId}'`);
  addMember(second.orgId, bound.userId, 'member');
  root = await register(`root-${u}@e2e.test`, `Root Home ${u}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  other = await register(`other-${u}@e2e.test`, `Elsewhere ${u}`);
});
after(async () => {
  await browser?.close();
});

const activeOrg = (page) => page.getByTestId('active-org').textContent();

describe('signing in and out', () => {
  test('hydrated: sign in, see the overview with the active org, sign out', async () => {
    const page = await openPage(browser);
    const response = await page.goto(`${BASE_URL}/`);
    assert.equal(new URL(page.url()).pathname, '/sign-in', 'a visitor is sent to sign in');
    assert.ok(response.ok());
    await waitForHydration(page);

    // A wrong password is answered in place, on its field.
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The email or password is incorrect.').waitFor();

    await page.getByLabel('Password').fill('e2e password 123');
    await Promise.all([page.waitForURL(`${BASE_URL}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.getByTestId('signed-in-as').waitFor();
    assert.match(await page.getByTestId('signed-in-as').textContent(), new RegExp(admin.email));
    assert.match(await activeOrg(page), /Admin Home .* · ORG\d+/);

    await Promise.all([page.waitForURL(/\/sign-in/), page.getByRole('button', { name: 'Sign out' }).click()]);
    await page.goto(`${BASE_URL}/`);
    assert.equal(new URL(page.url()).pathname, '/sign-in', 'signed out for real');
    assert.deepEqual(page.problems.filter((p) => !p.includes('status of 400')), []);
  });

  test('JavaScript off: the same forms work as plain posts', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await page.goto(`${BASE_URL}/sign-in`);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill('wrong password!');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.getByText('The email or password is incorrect.').waitFor();

    await signInThroughPage(page, admin.email, { js: false });
    assert.match(await activeOrg(page), /Admin Home/);
    await Promise.all([page.waitForURL(/\/sign-in/), page.getByRole('button', { name: 'Sign out' }).click()]);
  });
});

describe('switching organizations', () => {
  test('an admin switches between the orgs it belongs to', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, admin.email);
    await waitForHydration(page);
    const options = await page.locator('#org-switch option').allTextContents();
    assert.equal(options.length, 2, `only its own two orgs: ${options}`);
    await page.locator('#org-switch').selectOption(admin.secondOrgId);
    await page.getByRole('button', { name: 'Switch' }).click();
    await page.waitForFunction(() => /Second Org/.test(document.querySelector('[data-testid="active-org"]')?.textContent));
    await page.reload();
    assert.match(await activeOrg(page), /Second Org/, 'the switch is kept in the re-issued token');
    assert.deepEqual(page.problems, []);
  });

  test('a bound user sees "Locked" and the server refuses a forged switch', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, bound.email);
    await page.getByTestId('org-locked').waitFor();
    assert.equal(await page.getByTestId('org-locked').textContent(), 'Locked');
    assert.equal(await page.locator('#org-switch').count(), 0, 'no switcher');
    assert.match(await activeOrg(page), /Bound Org/);
    // Forge the switch the page does not offer, from the page itself (same origin, its cookie).
    const status = await page.evaluate(async (orgId) => {
      const res = await fetch('/api/auth/switch_org', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `org_id=${orgId}`,
      });
      return res.status;
    }, admin.secondOrgId);
    assert.equal(status, 403);
    await page.reload();
    assert.match(await activeOrg(page), /Bound Org/, 'still in its own org');
  });

  test('a superadmin can switch into any org', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await waitForHydration(page);
    assert.match(await page.getByTestId('signed-in-as').textContent(), /Superadmin/);
    const values = await page.locator('#org-switch option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(values.includes(other.orgId), 'every org is offered, not only its own');
    await page.locator('#org-switch').selectOption(other.orgId);
    await page.getByRole('button', { name: 'Switch' }).click();
    await page.waitForFunction(() => /Elsewhere/.test(document.querySelector('[data-testid="active-org"]')?.textContent));
    await page.screenshot({ path: process.env.E2E_SCREENSHOT_DIR ? `${process.env.E2E_SCREENSHOT_DIR}/superadmin-switched.png` : '/tmp/tenantry-superadmin-switched.png' });
  });
});

describe('registration', () => {
  test('JavaScript off: create an account from the sign-in page and land in a personal org', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await page.goto(`${BASE_URL}/sign-in`);
    await page.getByRole('link', { name: 'Create an account' }).click();
    const email = `new-${unique()}@e2e.test`;
    await page.getByLabel('Your name').fill('Nadia');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('short');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Create account' }).click()]);
    await page.getByText('Use at least 10 characters.').waitFor();

    await page.getByLabel('Your name').fill('Nadia');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('a long enough password');
    await Promise.all([page.waitForURL(`${BASE_URL}/`), page.getByRole('button', { name: 'Create account' }).click()]);
    assert.match(await page.getByTestId('active-org-card').textContent(), /Nadia's workspace.*ORG\d+.*owner/s);
  });
});
