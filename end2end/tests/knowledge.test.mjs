// Knowledge in Chromium: an org owner creates entries (a missing title refused inline), searches
// them with ranking and highlighted snippets, and the org's agent finds them through the API;
// another org's agent does not.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let owner;
const keys = {};
const tag = unique();

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  const root = await register(`know-root-${tag}@e2e.test`, `Know Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  owner = await register(`know-owner-${tag}@e2e.test`, `Knowing Co ${tag}`);
  const other = await register(`know-other-${tag}@e2e.test`, `Other Co ${tag}`);
  for (const [name, org] of [['mine', owner.orgId], ['theirs', other.orgId]]) {
    const created = await callServerFn('agents/create_agent', {
      name: `Reader ${name} ${tag}`, email: `reader-${name}-${tag}@agents.test`, model: 'gpt-4o',
    }, root.token);
    const issued = JSON.parse(created.body);
    keys[name] = issued.key;
    await callServerFn('agents/assign_agent', { org_id: org, agent_id: issued.agent_id }, root.token);
  }
});
after(async () => {
  await browser?.close();
});

const agentSearch = async (key, q) => {
  const res = await fetch(`${BASE_URL}/api/v1/knowledge/search?q=${encodeURIComponent(q)}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()).map((e) => e.title);
};

describe('Knowledge', () => {
  test('create entries, search them, and an agent finds only its org\'s', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.getByRole('link', { name: 'Knowledge' }).first().click();
    await page.getByTestId('knowledge-empty').waitFor();
    await waitForHydration(page);

    const entries = [
      ['Returns and refunds', 'Customers may return goods within 30 days for a full refund.', 'refund, returns'],
      ['Shipping times', 'Orders ship in two days; a refund of shipping applies to late parcels.', 'shipping'],
    ];
    for (const [title, body, tags] of entries) {
      await page.getByRole('link', { name: 'New Entry' }).click();
      const dialog = page.getByRole('dialog', { name: 'New Entry' });
      await dialog.getByLabel('Text').fill(body);
      if (title === 'Returns and refunds') {
        await dialog.getByRole('button', { name: 'Save entry' }).click();
        await dialog.locator('[data-field-error="title"]').waitFor();
      }
      await dialog.getByLabel('Title').fill(title);
      await dialog.getByLabel('Tags').fill(tags);
      await dialog.getByRole('button', { name: 'Save entry' }).click();
      await page.getByTestId('toast').filter({ hasText: 'Entry saved.' }).waitFor();
      await page.getByTestId('entry-title').filter({ hasText: title }).waitFor();
    }

    await page.getByLabel('Search knowledge').fill('refund');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=refund/);
    await page.getByTestId('knowledge-count').filter({ hasText: '2 entries' }).waitFor();
    assert.deepEqual(await page.getByTestId('entry-title').allTextContents(), ['Returns and refunds', 'Shipping times']);
    assert.match(await page.getByTestId('entry-snippet').first().textContent(), /\[refund\]/);
    await screenshot(page, 'knowledge-search');

    assert.deepEqual(await agentSearch(keys.mine, 'refund'), ['Returns and refunds', 'Shipping times']);
    assert.deepEqual(await agentSearch(keys.theirs, 'refund'), []);
    assert.deepEqual(page.problems.filter((p) => !/status of 400/.test(p)), []);
  });
});
