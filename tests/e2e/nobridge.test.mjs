// "No bridge": a stack without a videobridge (run.sh starts xmpp-server,
// focus and meet-web only). The participant is told, stays in the room,
// and the notice goes once a bridge appears and media connects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { launch, participant, roomName, testid } from './lib.mjs';

const BASE = process.env.MEET_NOBRIDGE_BASE_URL;
// "BINARY CONFIG" of a videobridge for this stack, started by the test.
const BRIDGE = process.env.MEET_NOBRIDGE_BRIDGE;
const skip = !(BASE && BRIDGE) && 'needs the no-bridge stack that run.sh starts with the full stack';

test('without a bridge the user is told, and the notice clears when a bridge comes', { skip }, async () => {
  const browser = await launch();
  let bridge;
  try {
    const { page } = await participant(browser);
    await page.goto(`${BASE}/${roomName('nobridge')}`);
    await testid(page, 'display-name').fill('Alone');
    await testid(page, 'join').click();
    const notice = page.locator('[data-notice="bridgeDown"]');
    await notice.waitFor({ timeout: 30000 });
    assert.match(await notice.textContent(), /No video bridge/);
    await page.waitForTimeout(3000);
    assert.equal(await page.locator('[data-notice="connectionLost"]').count(), 0, 'stays in the room');

    const [bin, config] = BRIDGE.split(' ');
    bridge = spawn(bin, ['--config', config], { stdio: 'ignore' });
    await notice.waitFor({ state: 'detached', timeout: 60000 });
  } finally {
    bridge?.kill();
    await browser.close();
  }
});
