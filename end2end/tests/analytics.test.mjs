// The Analytics tab in Chromium: usage an agent reports through the agent API travels through
// the org's NATS stream into PostgreSQL and ClickHouse, and the tab draws it per day, per agent
// and per model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

let browser;
let root;
const tag = unique();
const model = `e2e-model-${tag}`;
const day = (ago) => new Date(Date.now() - ago * 86_400_000).toISOString();

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`analytics-root-${tag}@e2e.test`, `Analytics Org ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  const month = new Date().toISOString().slice(0, 7);
  const price = await callServerFn('billing/save_model_price', {
    model, effective_from: `${month}-01`, input_price: '2.50', output_price: '10.00',
  }, root.token);
  assert.equal(price.status, 200, price.body);
  const made = await callServerFn('agents/create_agent', {
    name: `Meter ${tag}`, email: `meter-${tag}@agents.test`, model: 'gpt-4o',
  }, root.token);
  assert.equal(made.status, 200, made.body);
  const { agent_id: agentId, key } = JSON.parse(made.body);
  const assigned = await callServerFn('agents/assign_agent', { org_id: root.orgId, agent_id: agentId }, root.token);
  assert.ok(assigned.status < 400, assigned.body);
  // Three days of usage (today and two earlier days of this month, when there are any).
  const today = new Date().getUTCDate();
  const events = [0, 1, 2].filter((ago) => ago < today).map((ago, n) => ({
    model, input_tokens: 1000 * (n + 1), output_tokens: 100, timestamp: day(ago),
    idempotency_key: `e2e-${tag}-${n}`,
  }));
  const res = await fetch(`${BASE_URL}/api/v1/usage`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  assert.equal(res.status, 200, await res.text());
  root.days = events.length;
});
after(async () => {
  await browser?.close();
});

describe('Analytics', () => {
  test('draws the usage an agent reported, per day, agent and model', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    const address = `${BASE_URL}/organizations/${root.orgId}/analytics`;
    // The consumer records the events a moment after the API took them.
    let drawn = 0;
    for (let i = 0; i < 40 && drawn < root.days; i++) {
      await page.goto(address);
      drawn = await page.locator('[data-testid=analytics-bar]:not([data-tokens="0"])').count();
      if (drawn < root.days) await page.waitForTimeout(500);
    }
    assert.equal(drawn, root.days, 'a bar for each day with usage');
    await waitForHydration(page);
    assert.equal(await page.getByTestId('analytics-bar').count(), 30, 'the last 30 days by default');
    assert.match(await page.getByTestId('analytics-agents').textContent(), new RegExp(`Meter ${tag}`));
    assert.match(await page.getByTestId('analytics-models').textContent(), new RegExp(model));
    const total = 1100 + 2100 + 3100;
    const expected = [1100, 2100, 3100].slice(0, root.days).reduce((a, b) => a + b, 0);
    assert.match(await page.getByTestId('analytics-total').textContent(),
      new RegExp(`^${expected.toLocaleString('en-US')} tokens`), `of ${total} at most`);
    await screenshot(page, 'analytics');

    // A narrower range, with the plain form: only today.
    const todayIso = new Date().toISOString().slice(0, 10);
    await page.getByLabel('From', { exact: true }).fill(todayIso);
    await page.getByLabel('To', { exact: true }).fill(todayIso);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/from=/);
    await page.getByTestId('analytics-chart').waitFor();
    assert.equal(await page.getByTestId('analytics-bar').count(), 1);
    assert.deepEqual(page.problems, []);
  });

  test('refuses a bad range naming the field', async () => {
    const res = await callServerFn('analytics/org_analytics', {
      org_id: root.orgId, from: '2026-02-30',
    }, root.token);
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /from/);
  });
});
