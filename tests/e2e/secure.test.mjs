// Secure-domain flow (the guide's last section) against a stack that
// run.sh sets up with secure-stack.py: only a signed-in user opens a room,
// guests wait for the host and then join.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, participant, roomName, testid } from './lib.mjs';

const BASE = process.env.MEET_SECURE_BASE_URL;
const USER = process.env.MEET_SECURE_USER ?? 'host1';
const PASSWORD = process.env.MEET_SECURE_PASSWORD ?? 'hostpass';
const skip = !BASE && 'needs a secure-domain stack (run.sh starts one with the full stack)';

let browser;
before(async () => {
  if (!skip) browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function openRoom(page, room, name) {
  await page.goto(`${BASE}/${room}`);
  await testid(page, 'display-name').fill(name);
  await testid(page, 'join').click();
}

async function joined(page) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="tile-local"]')?.dataset.participant !== 'local' && !document.querySelector('[data-notice="status"]'),
    null,
    { timeout: 30000 },
  );
}

test('a guest waits for the host, the host signs in, then both are in the room', { skip }, async () => {
  const room = roomName('secure');
  const guest = await participant(browser);
  await openRoom(guest.page, room, 'Guest');
  // The focus refuses to create the room for an anonymous guest.
  await testid(guest.page, 'login-dialog').waitFor({ timeout: 20000 });
  await guest.page.locator('[data-notice="status"]', { hasText: 'Waiting for the host' }).waitFor();
  await guest.page.keyboard.press('Escape');
  // Closed, it stays closed; the waiting notice offers to sign in instead.
  await testid(guest.page, 'notice-status-action').waitFor();
  await guest.page.waitForTimeout(6000);
  assert.equal(await testid(guest.page, 'login-dialog').count(), 0);

  const host = await participant(browser);
  await openRoom(host.page, room, 'Host');
  await testid(host.page, 'login-dialog').waitFor({ timeout: 20000 });
  await testid(host.page, 'login-user').fill(USER);
  await testid(host.page, 'login-password').fill('not-the-password');
  await testid(host.page, 'login-submit').click();
  await testid(host.page, 'login-error').getByText('Wrong user name or password.').waitFor({ timeout: 20000 });
  await testid(host.page, 'login-password').fill(PASSWORD);
  await testid(host.page, 'login-submit').click();
  await joined(host.page);
  await host.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').waitFor({ timeout: 15000 });

  // The guest's page keeps asking and gets in once the room exists.
  await joined(guest.page);
  await guest.page.locator('[data-testid="tile-remote"]', { hasText: 'Host' }).waitFor({ timeout: 20000 });
  assert.equal(await guest.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').count(), 0);
  await host.page.locator('[data-testid="tile-remote"]', { hasText: 'Guest' }).waitFor({ timeout: 20000 });
});
