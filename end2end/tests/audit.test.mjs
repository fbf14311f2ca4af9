// The audit log in Chromium: an org's owner filters their org's log by actor and by date,
// exports what is shown as CSV and reads it back; a superadmin opens the platform's log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, screenshot, signInThroughPage, sql,
  unique, waitForHydration, waitForServer,
} from '../support.mjs';

const tag = unique();
let browser;
let owner;

/** Parses CSV (quoted fields, doubled quotes, line breaks inside quotes). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  owner = await register(`audit-owner-${tag}@e2e.test`, `Audit Co ${tag}`);
  // Three invitations by the owner: three events in the org's log.
  for (const n of [1, 2, 3]) {
    const r = await callServerFn('invitations/invite', {
      org_id: owner.orgId, email: `audited-${n}-${tag}@e2e.test`, role: 'member',
    }, owner.token);
    assert.equal(r.status, 200, r.body);
  }
});
after(async () => {
  await browser?.close();
});

describe('Audit log', () => {
  test('filter by actor and date, export what is shown as CSV', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email);
    await page.getByRole('navigation', { name: 'Sections' }).first().getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(`${BASE_URL}/audit`);
    await waitForHydration(page);
    await page.getByTestId('audit-row').first().waitFor();

    const filters = page.getByTestId('audit-filters');
    await filters.getByLabel('Actor', { exact: true }).fill(`audit-owner-${tag}`);
    await filters.getByLabel('Action', { exact: true }).fill('invitation');
    const today = new Date().toISOString().slice(0, 10);
    await filters.getByLabel('From', { exact: true }).fill(today);
    await filters.getByLabel('To', { exact: true }).fill(today);
    await filters.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/action=invitation/);
    await page.locator('[data-testid="audit-row"][data-action="invitation.create"]').nth(2).waitFor();
    assert.equal(await page.getByTestId('audit-row').count(), 3);
    for (const actor of await page.getByTestId('audit-actor').allTextContents()) {
      assert.equal(actor, owner.email);
    }
    await screenshot(page, 'audit-filtered');

    // A day with nothing: an empty state, not an empty table.
    await filters.getByLabel('From', { exact: true }).fill('2001-01-01');
    await filters.getByLabel('To', { exact: true }).fill('2001-01-02');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('audit-empty').filter({ hasText: 'No events match these filters.' }).waitFor();

    // The export of the filtered view, as the browser downloads it.
    await page.goto(`${BASE_URL}/audit?action=invitation`);
    await waitForHydration(page);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('audit-export').click(),
    ]);
    const { readFileSync } = await import('node:fs');
    const rows = parseCsv(readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(rows[0], ['id', 'time', 'org_id', 'org', 'actor_id', 'actor_email', 'action',
      'target', 'ip', 'user_agent', 'details', 'chain_seq']);
    const data = rows.slice(1);
    assert.equal(data.length, 3, JSON.stringify(rows));
    for (const r of data) {
      assert.equal(r[2], owner.orgId);
      assert.equal(r[5], owner.email);
      assert.equal(r[6], 'invitation.create');
      assert.equal(JSON.parse(r[10]).role, 'member');
    }
    assert.deepEqual(data.map((r) => r[7]).sort(),
      [1, 2, 3].map((n) => `audited-${n}-${tag}@e2e.test`).sort());
    assert.equal(page.problems.length, 0, page.problems.join('\n'));
    await page.close();
  });

  test("a superadmin reads the platform's log", async () => {
    const root = await register(`audit-root-${tag}@e2e.test`, `Audit Root ${tag}`);
    sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
    // A platform event: a plan saved by the superadmin.
    const plan = await callServerFn('billing/save_plan', {
      plan_name: `audit_${tag}`, max_agents: '1', max_seats: '1', max_storage_mb: '1', max_tokens_per_month: '1',
    }, root.token);
    assert.ok(plan.status < 400, plan.body);
    const page = await openPage(browser);
    await signInThroughPage(page, root.email);
    await page.goto(`${BASE_URL}/audit`);
    await waitForHydration(page);
    await page.getByTestId('audit-filters').getByLabel('Log').selectOption('platform');
    await page.getByTestId('audit-filters').getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/scope=platform/);
    await page.getByTestId('audit-scope').filter({ hasText: "The platform's own events" }).waitFor();
    await page.getByTestId('audit-row').filter({ hasText: `audit_${tag}` }).first().waitFor();
    await screenshot(page, 'audit-platform');
    await page.close();
  });
});
