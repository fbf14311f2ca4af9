// Guardrails in Chromium: an org owner writes a policy (an invalid pattern refused inline),
// edits it, an agent of the org evaluates a text through the API, and the intervention shows in
// the log with its filters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let owner;
let agentKey;
const tag = unique();

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  const root = await register(`guard-root-${tag}@e2e.test`, `Guard Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  owner = await register(`guard-owner-${tag}@e2e.test`, `Guarded Co ${tag}`);
  const created = await callServerFn('agents/create_agent', {
    name: `Desk Bot ${tag}`, email: `desk-${tag}@agents.test`, model: 'gpt-4o',
  }, root.token);
  assert.equal(created.status, 200, created.body);
  const issued = JSON.parse(created.body);
  agentKey = issued.key;
  const assigned = await callServerFn('agents/assign_agent', { org_id: owner.orgId, agent_id: issued.agent_id }, root.token);
  assert.ok(assigned.status < 400, assigned.body);
});
after(async () => {
  await browser?.close();
});

const evaluate = (text) => fetch(`${BASE_URL}/api/v1/guardrails/evaluate`, {
  method: 'POST',
  headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
  body: JSON.stringify({ text }),
});

describe('Guardrails', () => {
  test('write and edit a policy, evaluate a text, see the intervention', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.getByRole('link', { name: 'Guardrails' }).first().click();
    await page.getByTestId('policies-empty').waitFor();
    await waitForHydration(page);

    await page.getByRole('link', { name: 'New Policy' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Policy' });
    await dialog.getByLabel('Name').fill('No legal talk');
    await dialog.getByLabel('Kind').selectOption('blocked_topics');
    await dialog.getByLabel('Parameters (JSON)').fill('{"patterns": ["(unclosed"]}');
    await dialog.getByRole('button', { name: 'Save policy' }).click();
    await dialog.locator('[data-field-error="params"]').filter({ hasText: 'is not a valid pattern' }).waitFor();
    await screenshot(page, 'guardrails-editor-error');
    await dialog.getByLabel('Parameters (JSON)').fill('{"keywords": ["lawsuit"]}');
    await dialog.getByRole('button', { name: 'Save policy' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Policy saved.' }).waitFor();
    await page.getByTestId('policy-name').filter({ hasText: 'No legal talk' }).waitFor();

    // Before the edit the text passes; after it, it is blocked.
    let outcome = await (await evaluate('Is there a subpoena?')).json();
    assert.equal(outcome.action, 'allow');
    await page.getByTestId('policy-name').filter({ hasText: 'No legal talk' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit policy · No legal talk' });
    await edit.getByLabel('Parameters (JSON)').fill('{"keywords": ["lawsuit", "subpoena"]}');
    await edit.getByLabel('Priority').fill('5');
    await edit.getByRole('button', { name: 'Save policy' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Policy saved.' }).waitFor();
    outcome = await (await evaluate('Is there a subpoena?')).json();
    assert.equal(outcome.action, 'block');
    assert.equal(outcome.policy_name, 'No legal talk');

    await page.goto(`${BASE_URL}/guardrails`);
    await waitForHydration(page);
    const row = page.getByTestId('intervention').filter({ hasText: 'Is there a subpoena?' });
    await row.waitFor();
    assert.match(await row.textContent(), new RegExp(`Desk Bot ${tag}.*No legal talk.*Blocked`, 's'));
    await page.getByRole('list', { name: 'Intervention filter' }).getByRole('link', { name: 'Redactions' }).click();
    await page.waitForURL(/action=redact/);
    await page.getByTestId('interventions-empty').waitFor();
    await page.getByRole('list', { name: 'Intervention filter' }).getByRole('link', { name: 'Blocks' }).click();
    await page.waitForURL(/action=block/);
    await page.getByTestId('intervention').first().waitFor();
    await screenshot(page, 'guardrails');
    assert.deepEqual(page.problems.filter((p) => !/status of 400/.test(p)), []);
  });
});
