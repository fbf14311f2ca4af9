// The Admin App as `serve` builds it (release WASM, precompressed): run by scripts/test after
// the browser tests, against that build. The WASM is served precompressed with brotli (its size
// is printed), and the Organizations page is hydrated within a second of navigation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL, callServerFn, launchBrowser, openPage, register, signInThroughPage, sql, unique,
  waitForHydration, waitForServer,
} from '../support.mjs';

const HYDRATION_LIMIT_MS = 1000;

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
  // The goal is 400 KB (issue 16); it is not met yet (about 575 KB), so it is reported here,
  // not asserted.
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
