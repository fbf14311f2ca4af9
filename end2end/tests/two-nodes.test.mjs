// Two app nodes: a second `serve` process joins the served app (TENANTRY_JOIN: its PostgreSQL,
// Redis, NATS and ClickHouse) on a port of its own. The sign-in limit and the agent API's rate
// limits hold across both, and an install started through the first node is watched live in a
// browser on the second.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  BASE_URL, PASSWORD, callServerFn, holdLock, launchBrowser, openPage, register, screenshot,
  signInThroughPage, sql, unique, waitForHydration, waitForServer,
} from '../support.mjs';

const NODE2 = 'http://127.0.0.1:3101';
const repo = new URL('../../', import.meta.url).pathname;
const tag = unique();

let browser;
let node2;
let node2Log = '';
let owner;

/** The second node: the same binary, joining the first's data directory. */
function startNode2() {
  const env = {
    ...process.env,
    TENANTRY_JOIN: process.env.TENANTRY_DATA_DIR,
    LEPTOS_SITE_ADDR: '127.0.0.1:3101',
    LEPTOS_OUTPUT_NAME: 'tenantry',
    LEPTOS_SITE_ROOT: `${repo}target/site`,
    LEPTOS_SITE_PKG_DIR: 'pkg',
    TENANTRY_ALLOW_REGISTRATION: 'true',
  };
  const child = spawn(`${repo}target/debug/server`, ['serve'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk) => { node2Log = (node2Log + chunk).slice(-8000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return child;
}

before(async () => {
  await waitForServer();
  node2 = startNode2();
  try {
    await waitForServer(60_000, NODE2);
  } catch (err) {
    throw new Error(`${err.message}\nthe second node's log:\n${node2Log}`);
  }
  browser = await launchBrowser();
  owner = await register(`two-nodes-${tag}@e2e.test`, `Two Nodes Co ${tag}`);
});
after(async () => {
  await browser?.close();
  if (node2 && node2.exitCode === null) {
    const exited = new Promise((resolve) => node2.on('exit', resolve));
    node2.kill('SIGINT');
    await exited;
  }
});

const nodes = [BASE_URL, NODE2];

describe('Two app nodes', () => {
  test('the sign-in limit holds across both nodes', async () => {
    const email = `limited-${tag}@e2e.test`;
    await register(email, `Limited Co ${tag}`);
    const attempt = (password, base) => callServerFn('auth/sign_in', { email, password }, undefined, base);
    // The email's five failures, spread over both nodes: neither alone has seen five.
    for (const base of [BASE_URL, NODE2, BASE_URL, NODE2, BASE_URL]) {
      const r = await attempt('wrong password', base);
      assert.equal(r.status, 400, `a failure at ${base}: ${r.body}`);
    }
    for (const base of nodes) {
      const r = await attempt(PASSWORD, base);
      assert.equal(r.status, 429, `the sixth at ${base} waits, even with the right password: ${r.body}`);
      assert.match(r.body, /RateLimited/);
    }
  });

  test("the agent API's rate limits hold across both nodes", async () => {
    const root = await register(`two-nodes-root-${tag}@e2e.test`, `Rate Co ${tag}`);
    sql(`update app_user set is_superadmin = true where user_id = '${root.userId}'`);
    sql(`insert into plan (plan_name, api_requests_per_minute, agent_requests_per_minute)
         values ('e2e-tiny-${tag}', 8, 4)`);
    sql(`insert into subscription (org_id, plan_name) values ('${root.orgId}', 'e2e-tiny-${tag}')
         on conflict (org_id) do update set plan_name = excluded.plan_name`);
    const agent = async (name) => {
      const made = await callServerFn('agents/create_agent', {
        name, email: `${name.toLowerCase().replace(/\W+/g, '-')}@agents.test`, model: 'gpt-4o',
      }, root.token);
      assert.equal(made.status, 200, made.body);
      const { agent_id: agentId, key } = JSON.parse(made.body);
      const assigned = await callServerFn('agents/assign_agent', { org_id: root.orgId, agent_id: agentId }, root.token);
      assert.ok(assigned.status < 400, assigned.body);
      return key;
    };
    const first = await agent(`Paced One ${tag}`);
    const second = await agent(`Paced Two ${tag}`);
    const call = (key, base) => fetch(`${base}/api/v1/agent`, { headers: { authorization: `Bearer ${key}` } });
    // Each count's window is a minute from its first request: the calls below take a moment.
    // The first agent's 4 a minute, taken on both nodes: the 5th is refused on either.
    for (const base of [BASE_URL, NODE2, BASE_URL, NODE2]) {
      const r = await call(first, base);
      assert.equal(r.status, 200, `${base}: ${await r.text()}`);
    }
    for (const base of nodes) {
      const r = await call(first, base);
      assert.equal(r.status, 429, `${base}: ${await r.text()}`);
      const wait = Number(r.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${r.headers.get('retry-after')}`);
    }
    // The org's 8 a minute: 6 counted so far (refused calls count too), 2 more by the second
    // agent, under its own limit, then the org's refuses it on either node.
    for (const base of nodes) {
      const r = await call(second, base);
      assert.equal(r.status, 200, `${base}: ${await r.text()}`);
    }
    for (const base of nodes) {
      const r = await call(second, base);
      assert.equal(r.status, 429, `${base}: ${await r.text()}`);
    }
  });

  test('an install started through the first node is watched live on the second', async () => {
    const page = await openPage(browser);
    await signInThroughPage(page, owner.email, { base: NODE2 });
    await page.goto(`${NODE2}/organizations/${owner.orgId}/products`);
    await waitForHydration(page);
    const crm = page.locator('[data-testid="org-product"][data-product="crm"]');
    await crm.getByTestId('product-status').filter({ hasText: 'Not Installed' }).waitFor();

    // The fifth step (a skill) waits for a lock held 8 s, so the run is seen mid-way.
    const { released } = await holdLock('org_skill', 8);
    const started = await callServerFn('products/install', { org_id: owner.orgId, product: 'crm' }, owner.token);
    assert.equal(started.status, 200, started.body);
    await crm.getByTestId('run-count').filter({ hasText: '4 of 8' }).waitFor({ timeout: 30_000 });
    await crm.locator('[data-testid="run-step"][data-status="running"]').filter({ hasText: 'skill crm_log_activity' }).waitFor();
    await crm.scrollIntoViewIfNeeded();
    await screenshot(page, 'two-nodes-install-live');
    await released;
    await crm.getByTestId('product-status').filter({ hasText: 'Installed · v1' }).waitFor({ timeout: 60_000 });
    assert.equal(await crm.getByTestId('run-count').textContent(), '8 of 8');
    assert.equal(await crm.getByRole('progressbar').getAttribute('aria-valuenow'), '8');
    assert.equal(page.problems.length, 0, page.problems.join('\n'));
    await page.close();
  });
});
