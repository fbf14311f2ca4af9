// The overview page end to end: server rendering, hydration, a server function reading
// PostgreSQL, and the same page with JavaScript switched off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, launchBrowser, openPage, register, signInThroughPage, unique, waitForHydration,
  waitForServer,
} from '../support.mjs';

let browser;
let user;
before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  user = await register(`overview-${unique()}@e2e.test`, '');
});

/** A signed-in page on the overview. */
async function overview(options = {}) {
  const page = await openPage(browser, options);
  await signInThroughPage(page, user.email, { js: options.javaScriptEnabled !== false });
  return page;
}
after(async () => {
  await browser?.close();
});

const checkedAt = (page) => page.getByTestId('checked-at').textContent();

describe('overview, hydrated', () => {
  test('the database check answers from PostgreSQL without reloading the page', async () => {
    const page = await overview();
    await waitForHydration(page);

    assert.match(await page.getByTestId('server-version').textContent(), /^PostgreSQL \d+\.\d+/);
    const first = await checkedAt(page);
    // Survives only if the click is handled in place, not by a full form submission.
    await page.evaluate(() => { window.__sameDocument = true; });

    await page.getByRole('button', { name: 'Check again' }).click();
    await page.waitForFunction(
      (previous) => document.querySelector('[data-testid="checked-at"]')?.textContent !== previous,
      first,
      { timeout: 10_000 },
    );

    const second = await checkedAt(page);
    assert.ok(Date.parse(second.replace(' UTC', 'Z').replace(' ', 'T')) >
              Date.parse(first.replace(' UTC', 'Z').replace(' ', 'T')),
              `the database clock moved forward: ${first} -> ${second}`);
    assert.equal(await page.evaluate(() => window.__sameDocument), true);
    assert.deepEqual(page.problems, []);
  });

  test('the layout names every section and has landmarks', async () => {
    const page = await overview();
    const nav = page.getByRole('navigation', { name: 'Sections' });
    for (const section of ['Overview', 'Organizations', 'Users', 'Products', 'Agents',
                           'Knowledge', 'Guardrails', 'Billing', 'Audit']) {
      assert.equal(await nav.getByText(section, { exact: true }).count(), 1, section);
    }
    assert.equal(await page.getByRole('banner').count(), 1);
    assert.equal(await page.getByRole('main').count(), 1);
    assert.equal(await page.title(), 'Overview · Tenantry');
  });
});

describe('overview, JavaScript disabled', () => {
  test('renders on the server and the check still works as a plain form', async () => {
    const page = await overview({ javaScriptEnabled: false });
    const response = await page.goto(`${BASE_URL}/`);
    assert.equal(response.status(), 200);
    assert.match(await page.getByTestId('server-version').textContent(), /^PostgreSQL \d+\.\d+/);
    const first = await checkedAt(page);

    await Promise.all([
      page.waitForURL(`${BASE_URL}/`, { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Check again' }).click(),
    ]);
    await page.waitForFunction(
      (previous) => document.querySelector('[data-testid="checked-at"]')?.textContent !== previous,
      first,
    );
    assert.match(await page.getByTestId('server-version').textContent(), /^PostgreSQL/);
  });

  test('on a narrow screen the sections open from the header menu', async () => {
    const page = await overview({ javaScriptEnabled: false });
    await page.setViewportSize({ width: 420, height: 800 });
    await page.goto(`${BASE_URL}/`);
    const nav = page.getByRole('navigation', { name: 'Sections' });
    assert.equal(await nav.count(), 0, 'the sidebar is hidden and the menu closed');
    await page.getByText('Menu', { exact: true }).click();
    assert.equal(await nav.count(), 1);
    await nav.getByRole('link', { name: 'Overview' }).waitFor();
  });

  test('an unknown address gets the not-found page with status 404', async () => {
    const page = await openPage(browser, { javaScriptEnabled: false });
    const response = await page.goto(`${BASE_URL}/no/such/page`);
    assert.equal(response.status(), 404);
    assert.equal(await page.getByRole('heading', { name: 'Page not found' }).count(), 1);
  });
});
