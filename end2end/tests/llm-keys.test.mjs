// "Your LLM keys" in Chromium: a member keeps a key of their own (a short one refused naming the
// field), sees it only masked, replaces and deletes it (after confirming), and the org's agent is
// handed it; with the org's policy off the page says agents will not use it. Without JavaScript
// the same form saves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let owner;
let plain;
let agentKey;
const tag = unique();

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  const root = await register(`keys-root-${tag}@e2e.test`, `Keys Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  owner = await register(`keys-owner-${tag}@e2e.test`, `Keyed Co ${tag}`);
  plain = await register(`keys-plain-${tag}@e2e.test`, `Plain Co ${tag}`);
  const created = await callServerFn('agents/create_agent', {
    name: `Key Taker ${tag}`, email: `key-taker-${tag}@agents.test`, model: 'gpt-4o',
  }, root.token);
  const issued = JSON.parse(created.body);
  agentKey = issued.key;
  await callServerFn('agents/assign_agent', { org_id: owner.orgId, agent_id: issued.agent_id }, root.token);
});
after(async () => {
  await browser?.close();
});

const handedOut = async (userId) => {
  const res = await fetch(`${BASE_URL}/api/v1/llm-key?provider=anthropic&user_id=${userId}`, {
    headers: { authorization: `Bearer ${agentKey}` },
  });
  return { status: res.status, body: await res.json() };
};

describe('Your LLM keys', () => {
  test('save, replace and delete a key of your own; the agent is handed it', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.getByRole('link', { name: 'Your LLM keys' }).first().click();
    await page.getByTestId('own-keys-empty').waitFor();
    await waitForHydration(page);

    await page.getByLabel('Provider').selectOption('anthropic');
    await page.getByLabel('Key', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Save key' }).click();
    await page.getByText('Paste the whole key').waitFor();
    assert.equal(await page.getByLabel('Key', { exact: true }).getAttribute('aria-invalid'), 'true');

    await page.getByLabel('Key', { exact: true }).fill(`sk-ant-e2e-first-${tag}-WXYZ`);
    await page.getByRole('button', { name: 'Save key' }).click();
    const row = page.getByTestId('own-key');
    await row.filter({ hasText: '••••WXYZ' }).waitFor();
    assert.ok(!(await page.content()).includes('sk-ant-e2e-first'), 'the whole key is never shown');
    let handed = await handedOut(owner.userId);
    assert.equal(handed.status, 200);
    assert.equal(handed.body.source, 'user');
    assert.equal(handed.body.key, `sk-ant-e2e-first-${tag}-WXYZ`);

    // A second save lands on the same address: the list still shows the new key.
    await page.getByLabel('Provider').selectOption('anthropic');
    await page.getByLabel('Key', { exact: true }).fill(`sk-ant-e2e-second-${tag}-QRST`);
    await page.getByRole('button', { name: 'Save key' }).click();
    await row.filter({ hasText: '••••QRST' }).waitFor();
    assert.equal(await row.count(), 1, 'a provider has one key of yours');
    await screenshot(page, 'llm-keys-own');

    // Deleting asks first.
    assert.equal(await page.getByRole('button', { name: 'Delete Anthropic key' }).isVisible(), false);
    await page.getByText('Delete your Anthropic key…').click();
    await page.getByRole('button', { name: 'Delete Anthropic key' }).click();
    await page.getByTestId('own-keys-empty').waitFor();
    handed = await handedOut(owner.userId);
    assert.equal(handed.status, 404, JSON.stringify(handed.body));

    // With the org's policy off, the page says so.
    const off = await callServerFn('llm_keys/set_allow_user_keys', { org_id: owner.orgId }, owner.token);
    assert.ok(off.status < 400, off.body);
    await page.reload();
    await page.getByTestId('user-keys-off').waitFor();
    const audited = sql(`select count(*) from audit_event
                          where org_id = '${owner.orgId}' and action = 'llm_key.handout'`);
    assert.equal(audited, '1', 'the one handout is on the audit log');
    await page.close();
  });

  test('JavaScript disabled: the form saves and the key shows masked', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    await signInThroughPage(page, plain.email, { js: false });
    await page.goto(`${BASE_URL}/llm-keys`);
    await page.getByTestId('own-keys-empty').waitFor();
    await page.getByLabel('Provider').selectOption('openai');
    await page.getByLabel('Key', { exact: true }).fill(`sk-plain-${tag}-LMNO`);
    await Promise.all([
      page.waitForURL(`${BASE_URL}/llm-keys?done=saved`),
      page.getByRole('button', { name: 'Save key' }).click(),
    ]);
    await page.getByTestId('own-key').filter({ hasText: '••••LMNO' }).waitFor();
    await page.close();
  });
});
