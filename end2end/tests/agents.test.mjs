// Agents in Chromium: a superadmin registers one (its key shown once), assigns it from the org
// detail view's Agents tab, gives it a credential on the Credentials tab, and unassigns it; the
// agent's key works in that org's API only while assigned; an org member sees the org's agents
// on the Agents page.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot,
  signInThroughPage, sql, unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let root;
let client;
const tag = unique();

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`agents-root-${tag}@e2e.test`, `Agents Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  client = await register(`agents-client-${tag}@e2e.test`, `Agent Client ${tag}`);
});
after(async () => {
  await browser?.close();
});

const whoami = (key) => fetch(`${BASE_URL}/api/v1/agent`, { headers: { authorization: `Bearer ${key}` } });

describe('Agents', () => {
  test('register an agent, assign it from the Agents tab, use its key, unassign it', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.getByRole('link', { name: 'Agents' }).first().click();
    await page.getByRole('heading', { name: 'Agents' }).waitFor();
    await waitForHydration(page);

    // Inline errors first, then created with its key shown once.
    const form = page.getByRole('region', { name: 'New Agent' });
    await form.getByLabel('Name').fill(`Support Bot ${tag}`);
    await form.getByLabel('Email').fill('not an email');
    await form.getByRole('button', { name: 'Create agent' }).click();
    await form.locator('[data-field-error="email"]').waitFor();
    assert.equal(await page.locator('#agent-email').getAttribute('aria-invalid'), 'true');
    await form.getByLabel('Email').fill(`support-${tag}@agents.test`);
    await form.getByLabel('Model').selectOption('claude-3-5-sonnet');
    await form.getByRole('button', { name: 'Create agent' }).click();
    const firstKey = (await page.getByTestId('issued-key').locator('code').textContent()).trim();
    assert.match(firstKey, /^tnt_[a-z0-9]{12}_[0-9a-f]{64}$/);
    await page.getByTestId('agent-name').filter({ hasText: `Support Bot ${tag}` }).waitFor();
    await screenshot(page, 'agents-registry');
    // The registry follows the org switcher (the root's own org and the free agents); the other
    // views are a click away.
    const shown = page.getByRole('list', { name: 'Agents shown' });
    assert.equal(await shown.getByRole('link', { name: `Agents Root ${tag}` }).getAttribute('aria-current'), 'page');
    await shown.getByRole('link', { name: 'Unassigned' }).click();
    await page.waitForURL(/scope=unassigned/);
    await page.getByTestId('agent-name').filter({ hasText: `Support Bot ${tag}` }).waitFor();
    assert.equal((await whoami(firstKey)).status, 403, 'an unassigned agent has no org to act in');

    // Rotate: issue a second key, revoke the first; the first is refused at once.
    await page.getByRole('link', { name: `API keys of Support Bot ${tag}` }).click();
    const keys = page.getByRole('dialog', { name: 'API keys' });
    await keys.getByTestId('agent-key').first().waitFor();
    await keys.getByLabel('Label').fill('rotated');
    await keys.getByRole('button', { name: 'Issue a new key' }).click();
    const key = (await keys.getByTestId('issued-key').locator('code').textContent()).trim();
    assert.notEqual(key, firstKey);
    await keys.getByTestId('agent-key').filter({ hasText: 'first key' }).getByRole('button', { name: /^Revoke/ }).click();
    await keys.getByTestId('agent-key').filter({ hasText: 'first key' }).filter({ hasText: 'revoked' }).waitFor();
    assert.ok(!(await keys.textContent()).includes(firstKey.slice(20)), 'only prefixes are listed');
    await screenshot(page, 'agents-keys');
    assert.equal((await whoami(firstKey)).status, 401);
    await page.keyboard.press('Escape');
    await page.waitForURL((url) => url.pathname === '/agents');
    assert.match(page.url(), /scope=unassigned/, 'closing the dialog keeps the view it was opened from');

    // Assign from the org detail view.
    await page.goto(`${BASE_URL}/organizations/${client.orgId}/agents`);
    await waitForHydration(page);
    await page.getByTestId('org-agents-empty').waitFor();
    const choice = await page.locator('#assign-agent option', { hasText: `Support Bot ${tag}` }).getAttribute('value');
    await page.locator('#assign-agent').selectOption(choice);
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByTestId('org-agent').filter({ hasText: `Support Bot ${tag}` }).waitFor();
    await page.getByTestId('toast').filter({ hasText: 'Agent assigned.' }).waitFor();
    assert.equal(await page.getByTestId('org-agent').getByTestId('agent-status').textContent(), 'Active');
    await screenshot(page, 'organizations-detail-agents');
    const me = await whoami(key);
    assert.equal(me.status, 200);
    assert.equal((await me.json()).org_id, client.orgId);

    // A credential for this agent: saved, shown masked, read in full by the agent only.
    await page.getByRole('dialog').getByRole('link', { name: 'Credentials' }).click();
    await page.getByTestId('credentials-empty').waitFor();
    await page.locator('#credential-name').fill('Bad Name');
    await page.locator('#credential-secret').fill('sk_test_4242424242');
    await page.getByRole('button', { name: 'Save credential' }).click();
    await page.locator('[data-field-error="name"]').waitFor();
    await page.locator('#credential-name').fill('stripe');
    await page.getByLabel('For', { exact: true }).selectOption({ label: `Support Bot ${tag}` });
    await page.locator('#credential-secret').fill('sk_test_4242424242');
    await page.getByRole('button', { name: 'Save credential' }).click();
    await page.getByTestId('credential-masked').filter({ hasText: '••••4242' }).waitFor();
    assert.ok(!(await page.content()).includes('sk_test_4242424242'), 'the secret is never sent back');
    await screenshot(page, 'organizations-detail-credentials');
    const revealed = await fetch(`${BASE_URL}/api/v1/credentials/reveal`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'stripe' }),
    });
    assert.equal((await revealed.json()).secret, 'sk_test_4242424242');
    await page.getByRole('dialog').getByRole('link', { name: 'Agents' }).click();
    await page.getByTestId('org-agent').filter({ hasText: `Support Bot ${tag}` }).waitFor();

    // Deleting the org is refused while the agent is assigned.
    const refused = await callServerFn('orgs/delete_org', { org_id: client.orgId }, root.token);
    assert.equal(refused.status, 409);

    // The org's owner sees it on its Agents page.
    const owner = await openPage(browser);
    await signInThroughPage(owner, client.email);
    await owner.goto(`${BASE_URL}/agents`);
    await owner.getByTestId('agent-name').filter({ hasText: `Support Bot ${tag}` }).waitFor();
    assert.equal(await owner.getByRole('region', { name: 'New Agent' }).count(), 0);

    await page.getByRole('button', { name: `Unassign Support Bot ${tag}` }).click();
    await page.getByTestId('org-agents-empty').waitFor();
    assert.equal((await whoami(key)).status, 403);
    assert.deepEqual(page.problems.filter((p) => !/status of (400|409)/.test(p)), []);
  });
});
