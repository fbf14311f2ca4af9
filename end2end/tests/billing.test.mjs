// Billing in Chromium: a superadmin prices a model in Settings → Models, sets an org's default
// rate and one agent's override on its Billing & Costs tab, an agent reports usage through the
// API, and revenue, cost, margin and the chart follow; the CSV export downloads and parses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot,
  signInThroughPage, sql, unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let root;
let client;
const tag = unique();
const model = `e2e-model-${tag}`;
const month = new Date().toISOString().slice(0, 7);

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`billing-root-${tag}@e2e.test`, `Billing Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  client = await register(`billing-client-${tag}@e2e.test`, `Billing Client ${tag}`);
});
after(async () => {
  await browser?.close();
});

async function agent(name) {
  const made = await callServerFn('agents/create_agent',
    { name, email: `${name.toLowerCase().replace(/ /g, '-')}@agents.test`, model: 'gpt-4o' }, root.token);
  assert.equal(made.status, 200, made.body);
  const { agent_id: id, key } = JSON.parse(made.body);
  const assigned = await callServerFn('agents/assign_agent', { org_id: client.orgId, agent_id: id }, root.token);
  assert.ok(assigned.status < 400, assigned.body);
  return { id, key, name };
}

const usage = (key, body) => fetch(`${BASE_URL}/api/v1/usage`, {
  method: 'POST',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('Billing & Costs', () => {
  test('rates, overrides and usage move revenue, cost, margin and the chart; CSV exports', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);

    // Price the model in Settings → Models (a bad price first).
    await page.getByRole('link', { name: 'Settings' }).first().click();
    await page.getByRole('heading', { name: 'Models' }).waitFor();
    await waitForHydration(page);
    await page.getByLabel('Model', { exact: true }).fill(model);
    await page.getByLabel('Effective from').fill(`${month}-01`);
    await page.getByLabel('Input, USD per 1M tokens').fill('-2');
    await page.getByLabel('Output, USD per 1M tokens').fill('10');
    await page.getByRole('button', { name: 'Save price' }).click();
    await page.locator('[data-field-error="input_price"]').filter({ hasText: 'negative' }).waitFor();
    await page.getByLabel('Input, USD per 1M tokens').fill('2.50');
    await page.getByRole('button', { name: 'Save price' }).click();
    await page.getByTestId('model-price').filter({ hasText: model }).filter({ hasText: '$2.50' }).waitFor();
    await screenshot(page, 'settings-models');

    const first = await agent(`Ledger Bot ${tag}`);
    const second = await agent(`Tally Bot ${tag}`);

    await page.goto(`${BASE_URL}/organizations/${client.orgId}/billing`);
    await waitForHydration(page);
    await page.getByTestId('billing-tab').waitFor();
    assert.equal(await page.getByTestId('billing-margin').textContent(), '—', 'no revenue: no margin');

    // Default rate, with a bad value first.
    await page.getByLabel('Default rate per agent per month (USD)').fill('fifty');
    await page.getByRole('button', { name: 'Save rate' }).click();
    await page.locator('[data-field-error="rate"]').waitFor();
    assert.equal(await page.locator('#default-rate').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Default rate per agent per month (USD)').fill('50');
    await page.getByRole('button', { name: 'Save rate' }).click();
    await page.getByTestId('billing-revenue').filter({ hasText: '$100.00' }).waitFor();
    assert.equal(await page.getByTestId('billing-margin').textContent(), '100.00%');

    // Override one agent.
    const row = page.getByTestId('billing-line').filter({ hasText: second.name });
    await row.getByLabel(`Rate for ${second.name}`).fill('75');
    await row.getByRole('button', { name: 'Set' }).click();
    await page.getByTestId('billing-revenue').filter({ hasText: '$125.00' }).waitFor();

    // Usage through the API: 1M in at $2.50 + 1M out at $10 = $12.50; a retry counts once.
    const event = {
      model, input_tokens: 1_000_000, output_tokens: 1_000_000,
      timestamp: new Date().toISOString(), idempotency_key: `e2e-${tag}`,
    };
    for (let i = 0; i < 2; i += 1) {
      const res = await usage(first.key, { events: [event] });
      assert.equal(res.status, 200, await res.text());
    }
    const bad = await usage(first.key, { ...event, model: 'no-such-model', idempotency_key: 'x' });
    assert.equal(bad.status, 400);
    assert.ok((await bad.json()).fields.model[0].includes('Unknown model'));

    // The API takes usage into the org's event stream; the usage consumer bills it a moment
    // later (README, "The agent API").
    for (let i = 0; i < 60; i += 1) {
      await page.reload();
      if (await page.getByTestId('billing-cost').filter({ hasText: '$12.50' }).count()) break;
      await page.waitForTimeout(500);
    }
    await waitForHydration(page);
    await page.getByTestId('billing-cost').filter({ hasText: '$12.50' }).waitFor();
    assert.equal(await page.getByTestId('billing-revenue').textContent(), '$125.00');
    assert.equal(await page.getByTestId('billing-margin').textContent(), '90.00%');
    const bar = page.locator(`[data-testid="chart-month"][data-month="${month}"]`);
    assert.equal(await bar.getAttribute('data-revenue-cents'), '12500');
    assert.equal(await bar.getAttribute('data-cost-micros'), '12500000');
    assert.ok((await page.getByTestId('chart-margin').getAttribute('points')).length > 0, 'the margin line is drawn');
    await page.getByTestId('allowances').waitFor();
    await screenshot(page, 'billing-tab');

    // CSV export: downloads, parses, and says the same.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('billing-csv').click(),
    ]);
    assert.equal(download.suggestedFilename(), `billing-${month}.csv`);
    const text = await readFile(await download.path(), 'utf8');
    const rows = text.trim().split('\n').map((line) => line.split(','));
    assert.deepEqual(rows[0], ['month', 'agent', 'agent_id', 'rate_usd', 'input_tokens', 'output_tokens', 'cost_usd', 'margin']);
    const ledger = rows.find((r) => r[1] === first.name);
    assert.deepEqual(ledger.slice(3, 7), ['50.00', '1000000', '1000000', '12.500000']);
    const tally = rows.find((r) => r[1] === second.name);
    assert.equal(tally[3], '75.00');
    const total = rows.at(-1);
    assert.deepEqual(total.slice(1, 4), ['Total', '', '125.00']);
    assert.equal(total[6], '12.500000');
    assert.equal(total[7], '90.00%');
  });

  test('plans: one is added and deleted after confirming; one an org is on is kept, saying why', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.goto(`${BASE_URL}/billing`);
    await page.getByTestId('billing-page').waitFor();
    await waitForHydration(page);
    const spare = `e2e_spare_${tag}`;
    const used = `e2e_used_${tag}`;
    for (const name of [spare, used]) {
      await page.getByLabel('Plan name').fill(name);
      await page.getByLabel('Agents', { exact: true }).fill('3');
      await page.getByRole('button', { name: 'Save plan' }).click();
      await page.getByTestId('plan').filter({ hasText: `${name}: 3 agents` }).waitFor();
    }
    sql(`insert into subscription (org_id, plan_name, status) values ('${client.orgId}', '${used}', 'active')
         on conflict (org_id) do update set plan_name = excluded.plan_name`);

    // The delete button shows only once asked for.
    const confirm = page.getByRole('button', { name: `Delete the ${spare} plan` });
    assert.equal(await confirm.isVisible(), false);
    await page.getByLabel(`Delete the ${spare} plan…`).click();
    await confirm.click();
    await page.getByTestId('plan').filter({ hasText: `${spare}:` }).waitFor({ state: 'detached' });
    await page.waitForURL(/saved=plan-deleted/);
    await page.getByText('Plan deleted.').waitFor();

    await page.getByLabel(`Delete the ${used} plan…`).click();
    await page.getByRole('button', { name: `Delete the ${used} plan` }).click();
    await page.getByRole('alert').filter({ hasText: '1 organization is on this plan' }).waitFor();
    assert.equal(await page.getByTestId('plan').filter({ hasText: `${used}:` }).count(), 1);
    await page.close();
  });
});
