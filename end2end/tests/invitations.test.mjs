// Invitations in Chromium, with a real SMTP server (aiosmtpd, started by scripts/test; its
// Maildir is TENANTRY_E2E_MAILDIR): an owner invites from the org's Members tab, the message
// arrives, its link makes a new account that lands in the org with the invited role. A revoked
// link is refused, an expired one too, and resending keeps one invitation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  BASE_URL, launchBrowser, openPage, register, screenshot, signInThroughPage, sql, unique,
  waitForHydration, waitForServer,
} from '../support.mjs';

const tag = unique();
const orgName = `Invite Co ${tag}`;
let browser;
let owner;

/** The messages delivered to `address` so far (Maildir files), oldest first. */
function mailTo(address) {
  const dir = process.env.TENANTRY_E2E_MAILDIR;
  if (!dir) throw new Error('TENANTRY_E2E_MAILDIR is not set (run through ./tenantry test)');
  let names = [];
  try {
    names = readdirSync(`${dir}/new`);
  } catch {
    return [];
  }
  // A directory lists in no particular order: Maildir names begin with the delivery time
  // (`<seconds>.M<microseconds>P<pid>Q<count>.<host>`), so sort on it to read them oldest first.
  const when = (name) => {
    const [, seconds, micros] = name.match(/^(\d+)\.M(\d+)/) ?? [, '0', '0'];
    return Number(seconds) * 1e6 + Number(micros);
  };
  names.sort((a, b) => when(a) - when(b) || a.localeCompare(b));
  // Bodies come quoted-printable (long lines): decoded, as a mail client shows them.
  const decode = (text) => text.replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  return names.map((name) => decode(readFileSync(`${dir}/new/${name}`, 'utf8')))
    .filter((text) => new RegExp(`^To: .*${address.replace(/[.+]/g, '\\$&')}`, 'mi').test(text));
}

/** Waits for the `count`th message to `address`; returns the link in it. */
async function linkFor(address, count = 1) {
  for (let i = 0; i < 100; i++) {
    const messages = mailTo(address);
    if (messages.length >= count) {
      const link = messages.at(-1).match(/http\S+\/invitations\/accept\?token=inv_[0-9a-f]{64}/);
      assert.ok(link, messages.at(-1));
      return link[0];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no message ${count} to ${address} within 20 s`);
}

before(async () => {
  await waitForServer();
  browser = await launchBrowser();
  owner = await register(`invite-owner-${tag}@e2e.test`, orgName);
});
after(async () => {
  await browser?.close();
});

async function membersTab() {
  const page = await openPage(browser);
  await signInThroughPage(page, owner.email);
  await page.goto(`${BASE_URL}/organizations/${owner.orgId}/members`);
  await waitForHydration(page);
  await page.getByTestId('invite-form').waitFor();
  return page;
}

async function sendInvitation(page, email, role = 'viewer') {
  const form = page.getByTestId('invite-form');
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Role').selectOption(role);
  await form.getByRole('button', { name: 'Send invitation' }).click();
  await page.getByTestId('invitation-sent').filter({ hasText: email }).waitFor();
  await page.locator(`[data-testid="invitation"][data-email="${email}"]`).waitFor();
  // Emptied for the next one.
  assert.equal(await form.getByLabel('Email').inputValue(), '');
}

describe('Invitations', () => {
  test('invite by email; the link makes an account that lands in the org with the role', async () => {
    const page = await membersTab();
    const email = `new-${tag}@e2e.test`;
    // A bad address is named before anything is sent.
    await page.getByTestId('invite-form').getByLabel('Email').fill('not an address');
    await page.getByTestId('invite-form').getByRole('button', { name: 'Send invitation' }).click();
    await page.getByTestId('invite-form').getByText('Enter an email address like name@example.com.').waitFor();

    await sendInvitation(page, email, 'viewer');
    const row = page.locator(`[data-testid="invitation"][data-email="${email}"]`);
    assert.match(await row.textContent(), /Pending/);
    assert.match(await row.textContent(), /viewer ·/);
    await screenshot(page, 'invitations-pending');
    const link = await linkFor(email);
    assert.ok(link.startsWith(`${BASE_URL}/invitations/accept?token=`), link);

    const invitee = await openPage(browser);
    await invitee.goto(link);
    await waitForHydration(invitee);
    assert.match(await invitee.getByTestId('invitation-summary').textContent(),
      new RegExp(`join ${orgName} as viewer with ${email}`));
    await screenshot(invitee, 'invitations-accept');
    await invitee.getByLabel('Your name').fill('Nina New');
    await invitee.getByLabel('Password').fill('e2e password 123');
    await Promise.all([
      invitee.waitForURL(`${BASE_URL}/?joined=1`),
      invitee.getByRole('button', { name: `Create account and join ${orgName}` }).click(),
    ]);
    await invitee.getByTestId('signed-in-as').waitFor();
    assert.equal(sql(`select m.role_name from membership m join app_user u using (user_id)
                      where u.email = '${email}' and m.org_id = '${owner.orgId}'`), 'viewer');
    assert.equal(invitee.problems.length, 0, invitee.problems.join('\n'));

    // The link worked once.
    const again = await openPage(browser);
    await again.goto(link);
    await again.getByTestId('invitation-refused').filter({ hasText: 'already been used' }).waitFor();
    // The owner's tab lists the new member, and no longer the invitation.
    await page.reload();
    await waitForHydration(page);
    await page.locator(`[data-testid="org-member"][data-email="${email}"]`).waitFor();
    assert.equal(await page.locator(`[data-testid="invitation"][data-email="${email}"]`).count(), 0);
    for (const p of [page, invitee, again]) await p.close();
  });

  test('a revoked link is refused, and so is an expired one', async () => {
    const page = await membersTab();
    const revoked = `revoked-${tag}@e2e.test`;
    await sendInvitation(page, revoked);
    const link = await linkFor(revoked);
    const row = page.locator(`[data-testid="invitation"][data-email="${revoked}"]`);
    await row.getByText('Revoke…').click();
    await row.getByRole('button', { name: `Revoke the invitation to ${revoked}` }).click();
    await row.waitFor({ state: 'detached' });
    const visitor = await openPage(browser);
    await visitor.goto(link);
    await visitor.getByTestId('invitation-refused').filter({ hasText: 'withdrawn' }).waitFor();
    await screenshot(visitor, 'invitations-revoked');

    const expired = `expired-${tag}@e2e.test`;
    await sendInvitation(page, expired);
    const late = await linkFor(expired);
    sql(`update invitation set expires_at = now() - interval '1 minute' where email = '${expired}'`);
    await visitor.goto(late);
    await visitor.getByTestId('invitation-refused').filter({ hasText: 'expired' }).waitFor();
    assert.equal(await visitor.getByLabel('Password').count(), 0, 'no form for an expired link');
    await page.reload();
    await waitForHydration(page);
    await page.locator(`[data-testid="invitation"][data-email="${expired}"]`)
      .getByTestId('invitation-status').filter({ hasText: 'Expired' }).waitFor();
    await page.close();
    await visitor.close();
  });

  test('resend sends a fresh link and keeps one invitation', async () => {
    const page = await membersTab();
    const email = `resent-${tag}@e2e.test`;
    await sendInvitation(page, email, 'member');
    const first = await linkFor(email, 1);
    const row = page.locator(`[data-testid="invitation"][data-email="${email}"]`);
    await row.getByRole('button', { name: `Resend the invitation to ${email}` }).click();
    await page.getByTestId('invitation-sent').filter({ hasText: email }).waitFor();
    const second = await linkFor(email, 2);
    assert.notEqual(first, second);
    await row.filter({ hasText: 'sent 2 times' }).waitFor();
    assert.equal(await page.locator(`[data-testid="invitation"][data-email="${email}"]`).count(), 1);
    assert.equal(sql(`select count(*) from invitation where email = '${email}'`), '1');
    const visitor = await openPage(browser);
    await visitor.goto(first);
    await visitor.getByTestId('invitation-refused').filter({ hasText: 'not valid' }).waitFor();
    await visitor.goto(second);
    await visitor.getByTestId('invitation-summary').waitFor();
    await page.close();
    await visitor.close();
  });
});
