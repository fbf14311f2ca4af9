// The Admin App as `serve` builds it (release WASM split into lazily loaded chunks,
// precompressed): run by scripts/test after the browser tests, against that build. The main WASM
// is served precompressed with brotli within its budget, the Organizations page is hydrated within
// a second of navigation, and a page loaded on demand fetches its own chunk and works, whether it
// is the first page opened or reached from another.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, signInThroughPage, sql, unique,
  waitForHydration, waitForServer,
} from '../support.mjs';

const HYDRATION_LIMIT_MS = 1000;
// What the browser fetches before any page works (issue 16).
const WASM_BUDGET_BYTES = 400 * 1024;

let browser;
let root;
const tag = unique();
before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  root = await register(`served-root-${tag}@e2e.test`, `Served Root ${tag}`);
  sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
  for (let n = 0; n < 30; n++) {
    const res = await callServerFn('orgs/create_org', {
      'org[name]': `Served ${tag} ${String(n).padStart(2, '0')}`,
      'org[domain]': `served-${n}-${tag}.example`,
      'org[product]': n % 2 ? 'crm' : 'aafya',
      'org[status]': 'active',
    }, root.token);
    assert.equal(res.status, 200, res.body);
  }
});
after(async () => {
  await browser?.close();
});

test('the WASM is served precompressed with brotli', async () => {
  const res = await fetch(`${BASE_URL}/pkg/tenantry.wasm`, { headers: { 'accept-encoding': 'br' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-encoding'), 'br');
  // fetch decodes the body; the bytes on the wire are the Content-Length.
  const onWire = Number(res.headers.get('content-length'));
  const decoded = (await res.arrayBuffer()).byteLength;
  console.log(`served WASM: ${(onWire / 1024).toFixed(1)} KB brotli, ${(decoded / 1024).toFixed(1)} KB decoded`);
  assert.ok(onWire > 0 && onWire < decoded / 2, 'compressed on the wire');
  assert.ok(onWire <= WASM_BUDGET_BYTES, `${onWire} bytes on the wire, over the ${WASM_BUDGET_BYTES} budget`);
});

test('the Organizations page hydrates within a second', async () => {
  const page = await openPage(browser);
  await signInThroughPage(page, root.email);
  // When <body> is marked hydrated, by the page's own clock (from the navigation's start).
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.body?.dataset.hydrated === 'true') {
        window.__hydratedAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  const times = [];
  for (let run = 0; run < 3; run++) {
    await page.goto(`${BASE_URL}/organizations`);
    await waitForHydration(page);
    const at = await page.evaluate(() => window.__hydratedAt);
    assert.ok(at > 0, 'the hydration mark was seen');
    times.push(at);
  }
  console.log(`Organizations page hydrated after ${times.map((t) => `${Math.round(t)} ms`).join(', ')}`);
  // The first load compiles the WASM; the later ones may reuse the browser's compiled copy.
  for (const t of times) assert.ok(t < HYDRATION_LIMIT_MS, `hydrated after ${Math.round(t)} ms`);
  assert.ok((await page.getByTestId('org-name').count()) > 0, 'the table rendered');
  assert.deepEqual(page.problems, []);
});

/** The WASM files a page fetched while `during` ran, by name. */
async function wasmFetched(page, during) {
  const names = [];
  const seen = (res) => {
    const name = new URL(res.url()).pathname.split('/').pop();
    if (name.endsWith('.wasm')) names.push(name);
  };
  page.on('response', seen);
  try {
    await during();
  } finally {
    page.off('response', seen);
  }
  return names;
}

test('a page loaded on demand works opened first and reached from another page', async () => {
  const page = await openPage(browser);
  await signInThroughPage(page, root.email);
  // Opened first: rendered by the server, hydrated once its chunk is in.
  const opened = await wasmFetched(page, async () => {
    await page.goto(`${BASE_URL}/audit`);
    await waitForHydration(page);
  });
  assert.ok(opened.some((n) => n.startsWith('split___audit_view')), `fetched ${opened.join(', ')}`);
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  // Reached from another page: the Organizations page has no chunk of the account page, which
  // is fetched when the link is followed (a client-side navigation, no page load).
  await page.goto(`${BASE_URL}/organizations`);
  await waitForHydration(page);
  await page.evaluate(() => { window.__samePage = true; });
  const reached = await wasmFetched(page, async () => {
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.waitForURL(`${BASE_URL}/account`);
    await page.getByRole('heading', { level: 1 }).filter({ hasText: /account/i }).waitFor();
  });
  assert.ok(reached.some((n) => n.startsWith('split___account_view')), `fetched ${reached.join(', ')}`);
  assert.equal(await page.evaluate(() => window.__samePage), true, 'navigated without a page load');
  assert.deepEqual(page.problems, []);
});
