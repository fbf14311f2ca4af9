// Shared by the browser tests: the served app's address, Debian's Chromium, hydration.
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.TENANTRY_E2E_URL ?? 'http://127.0.0.1:3000';

// The flags this sandbox needs: no GPU, no background network chatter (refused here anyway).
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/** Waits until the server answers /readyz (cargo-leptos does not wait for it). */
export async function waitForServer(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${BASE_URL}/readyz`);
      if (res.ok) return;
      last = `HTTP ${res.status}: ${await res.text()}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server at ${BASE_URL} not ready after ${timeoutMs} ms (${last})`);
}

/**
 * A page in a fresh context. Console errors and uncaught exceptions are collected in
 * `page.problems` so tests can assert the page ran cleanly.
 */
export async function openPage(browser, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console: ${msg.text()}`);
  });
  return page;
}

/** A click before the WASM has hydrated is silently lost; the app marks <body> when ready. */
export async function waitForHydration(page) {
  await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 30_000 });
}
