// Full-stack browser tests: the UI against meetctl up (xmpp-server, focus,
// videobridge, meet-web). Skipped when run.sh could only start a web server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, BASE, FULL_STACK, embedServer, inboundStats, launch, participant, roomName, testid } from './lib.mjs';

const skip = !FULL_STACK && 'needs the whole stack (meetctl up with meet-web and focus)';

/** Opens a room, fills the pre-join screen and waits until joined. */
async function join(page, room, name, { waitPreview = true } = {}) {
  await page.goto(`${BASE}/${room}`);
  await testid(page, 'display-name').fill(name);
  if (waitPreview) {
    await page.waitForFunction(() => document.querySelector('[data-testid="preview-video"]')?.videoWidth > 0, null, { timeout: 20000 });
  }
  await testid(page, 'join').click();
  await joined(page);
}

async function joined(page) {
  await page.waitForFunction(
    () => {
      const local = document.querySelector('[data-testid="tile-local"]');
      return local && local.dataset.participant !== 'local' && !document.querySelector('[data-notice="status"]');
    },
    null,
    { timeout: 30000 },
  );
}

/** The tile of the remote participant called `name` (as seen on `page`). */
function remoteTile(page, name) {
  return page.locator('[data-testid="tile-remote"]', { has: page.locator('[data-testid="tile-name"]', { hasText: name }) });
}

async function growing(page, ms = 3000) {
  const a = await inboundStats(page);
  await page.waitForTimeout(ms);
  const b = await inboundStats(page);
  return { a, b, ok: b.audioBytes > a.audioBytes && b.videoBytes > a.videoBytes && b.framesDecoded > a.framesDecoded };
}

describe('two participants in one room', { skip }, () => {
  let browser;
  let alice;
  let bob;
  const room = roomName('pair');

  before(async () => {
    browser = await launch();
    alice = await participant(browser);
    bob = await participant(browser);
  });
  after(async () => {
    await browser?.close();
  });

  // First, while the bridge is fresh: this test is the one that needs media.
  test('each receives the other\'s audio and video', async () => {
    await join(alice.page, room, 'Alice');
    // Bob starts from the home page: time from Go to the first remote frame.
    await bob.page.goto(BASE + '/');
    await testid(bob.page, 'room-name').fill(room);
    const t0 = Date.now();
    await testid(bob.page, 'go').click();
    await testid(bob.page, 'display-name').fill('Bob');
    await testid(bob.page, 'join').click();
    await bob.page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="tile-remote"] video')].some((v) => v.videoWidth > 0),
      null,
      // Generous: when the videobridge's DTLS handshake with Chromium stalls
      // (seen on about half the sessions here), the library asks the focus
      // for a new session after ~45 s, sometimes more than once.
      { timeout: 180000 },
    );
    const firstFrameMs = Date.now() - t0;
    console.log(`TIMING Go -> first remote video frame: ${firstFrameMs} ms`);

    await remoteTile(alice.page, 'Bob').waitFor();
    await remoteTile(bob.page, 'Alice').waitFor();
    for (const [who, page] of [['Alice', alice.page], ['Bob', bob.page]]) {
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="tile-remote"] video')].some((v) => v.videoWidth > 0), null, { timeout: 180000 });
      const g = await growing(page);
      assert.ok(g.ok, `${who} receives media: ${JSON.stringify(g)}`);
    }
    // The moderator star is on Alice (first in the room) only.
    await alice.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').waitFor();
    await remoteTile(bob.page, 'Alice').locator('[data-testid="badge-moderator"]').waitFor();
    assert.equal(await bob.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').count(), 0);
    await alice.page.screenshot({ path: path.join(ARTIFACTS, 'conference-two.png') });
  });

  test('the active speaker is highlighted', async () => {
    // The fake microphones beep; the bridge names a dominant speaker.
    await alice.page.locator('.tile.speaking').waitFor({ timeout: 30000 });
  });

  test('chat messages are delivered, with an unread count, as text', async () => {
    await testid(alice.page, 'tool-chat').click();
    await testid(alice.page, 'chat-input').fill('Hello <i>Bob</i> & all');
    await testid(alice.page, 'chat-send').click();
    await testid(bob.page, 'chat-unread').waitFor();
    assert.equal(await testid(bob.page, 'chat-unread').textContent(), '1');
    await testid(bob.page, 'tool-chat').click();
    const msg = bob.page.locator('[data-testid="chat-message"]').last();
    await msg.waitFor();
    assert.equal(await msg.locator('.msg-text').textContent(), 'Hello <i>Bob</i> & all');
    assert.equal(await msg.locator('.msg-name').textContent(), 'Alice');
    assert.equal(await bob.page.locator('.chat-list i').count(), 0);
    assert.equal(await testid(bob.page, 'chat-unread').count(), 0);
    await testid(alice.page, 'tool-chat').click();
    await testid(bob.page, 'tool-chat').click();
  });

  test('a raised hand is seen by the other', async () => {
    await testid(bob.page, 'tool-hand').click();
    await remoteTile(alice.page, 'Bob').locator('[data-testid="badge-hand"]').waitFor({ timeout: 10000 });
    await testid(bob.page, 'tool-hand').click();
    await remoteTile(alice.page, 'Bob').locator('[data-testid="badge-hand"]').waitFor({ state: 'detached', timeout: 10000 });
  });

  test('tile view toggles', async () => {
    const tiles = testid(alice.page, 'tiles');
    assert.match(await tiles.getAttribute('class'), /stage-view/);
    await testid(alice.page, 'tool-tiles').click();
    assert.match(await tiles.getAttribute('class'), /tile-view/);
    assert.equal(await testid(alice.page, 'tool-tiles').getAttribute('aria-pressed'), 'true');
    await alice.page.screenshot({ path: path.join(ARTIFACTS, 'conference-tiles.png') });
    await testid(alice.page, 'tool-tiles').click();
    assert.match(await tiles.getAttribute('class'), /stage-view/);
  });

  test('a screen share is seen by the other', async () => {
    await testid(bob.page, 'tool-screen').click();
    await testid(bob.page, 'tool-screen').and(bob.page.locator('[aria-pressed="true"]')).waitFor({ timeout: 15000 });
    const tile = remoteTile(alice.page, 'Bob');
    await alice.page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="tile-remote"]')].some((t) => t.classList.contains('screen') && t.classList.contains('on-stage')),
      null,
      { timeout: 20000 },
    );
    assert.match(await tile.getAttribute('class'), /screen/);
    const g = await growing(alice.page);
    assert.ok(g.b.framesDecoded > g.a.framesDecoded, `frames keep coming during the share: ${JSON.stringify(g)}`);
    await testid(bob.page, 'tool-screen').click();
    await alice.page.waitForFunction(() => ![...document.querySelectorAll('[data-testid="tile-remote"]')].some((t) => t.classList.contains('screen')), null, { timeout: 20000 });
  });

  test('a password keeps a third participant out until given', async () => {
    await testid(alice.page, 'tool-info').click();
    assert.equal(await testid(alice.page, 'meeting-link').inputValue(), `${BASE}/${room}`);
    await testid(alice.page, 'password-input').fill('s3cret');
    await testid(alice.page, 'set-password').click();
    await testid(alice.page, 'remove-password').waitFor({ timeout: 10000 });
    await alice.page.keyboard.press('Escape');

    const carol = await participant(browser);
    await carol.page.goto(`${BASE}/${room}`);
    await testid(carol.page, 'display-name').fill('Carol');
    await testid(carol.page, 'join').click();
    await testid(carol.page, 'password-dialog').waitFor({ timeout: 20000 });
    await testid(carol.page, 'password-dialog-input').fill('wrong');
    await testid(carol.page, 'password-dialog-submit').click();
    await carol.page.locator('[data-testid="password-dialog"] .error').waitFor({ timeout: 20000 });
    assert.equal(await remoteTile(alice.page, 'Carol').count(), 0);
    await testid(carol.page, 'password-dialog-input').fill('s3cret');
    await testid(carol.page, 'password-dialog-submit').click();
    await joined(carol.page);
    await remoteTile(alice.page, 'Carol').waitFor({ timeout: 20000 });
    await carol.context.close();
    await remoteTile(alice.page, 'Carol').waitFor({ state: 'detached', timeout: 20000 });

    await testid(alice.page, 'tool-info').click();
    await testid(alice.page, 'remove-password').click();
    await testid(alice.page, 'set-password').waitFor({ timeout: 10000 });
    await alice.page.keyboard.press('Escape');
  });

  test('the moderator mutes, then kicks the other', async () => {
    // Bob is unmuted; only the moderator (Alice) has the menu.
    assert.equal(await testid(bob.page, 'participant-actions').count(), 0);
    const tile = remoteTile(alice.page, 'Bob');
    await tile.hover();
    await tile.locator('[data-testid="participant-actions"]').click();
    await tile.locator('[data-testid="action-mute"]').click();
    await bob.page.locator('[data-notice="mutedByModerator"]').waitFor({ timeout: 15000 });
    assert.equal(await testid(bob.page, 'tool-mic').getAttribute('aria-label'), 'Unmute');
    await tile.locator('[data-testid="badge-muted"]').waitFor({ timeout: 15000 });

    await tile.locator('[data-testid="participant-actions"]').click();
    await tile.locator('[data-testid="action-kick"]').click();
    await testid(bob.page, 'end-page').waitFor({ timeout: 15000 });
    assert.match(await testid(bob.page, 'end-message').textContent(), /removed you/);
    await tile.waitFor({ state: 'detached', timeout: 15000 });
  });

  test('the recent list shows the room', async () => {
    await bob.page.goto(BASE + '/');
    await bob.page.locator(`[data-testid="recent"] li[data-room="${room}"]`).waitFor();
  });
});

describe('moderator hand-over', { skip }, () => {
  test('the moderator role passes on when the moderator leaves', async () => {
    const browser = await launch();
    try {
      const room = roomName('handover');
      const a = await participant(browser);
      const b = await participant(browser);
      await join(a.page, room, 'First', { waitPreview: false });
      await a.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').waitFor({ timeout: 15000 });
      await join(b.page, room, 'Second', { waitPreview: false });
      assert.equal(await b.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').count(), 0);
      await testid(a.page, 'tool-hangup').click();
      await testid(a.page, 'end-page').waitFor();
      await b.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').waitFor({ timeout: 20000 });
      await b.page.locator('[data-notice="becameModerator"]').waitFor({ timeout: 5000 });
    } finally {
      await browser.close();
    }
  });
});

describe('roles, start muted and settings', { skip }, () => {
  test('a moderator makes another participant moderator; start-muted and renaming show up for the others', async () => {
    const browser = await launch();
    try {
      const room = roomName('roles');
      const a = await participant(browser);
      const b = await participant(browser);
      await join(a.page, room, 'Owner', { waitPreview: false });
      // Second participant starts with the microphone off (pre-join toggle).
      await b.page.goto(`${BASE}/${room}`);
      await testid(b.page, 'display-name').fill('Muted');
      await b.page.waitForFunction(() => document.querySelector('[data-testid="preview-video"]')?.videoWidth > 0, null, { timeout: 20000 });
      await testid(b.page, 'prejoin-mic').click();
      assert.equal(await testid(b.page, 'prejoin-mic').getAttribute('aria-pressed'), 'false');
      // ... and the camera off.
      await testid(b.page, 'prejoin-camera').click();
      await b.page.waitForFunction(() => document.querySelector('[data-testid="preview-video"]').hidden);
      await testid(b.page, 'join').click();
      await joined(b.page);
      assert.equal(await testid(b.page, 'tool-mic').getAttribute('aria-label'), 'Unmute');
      assert.equal(await testid(b.page, 'tool-camera').getAttribute('aria-label'), 'Start camera');
      const tile = remoteTile(a.page, 'Muted');
      await tile.locator('[data-testid="badge-muted"]').waitFor({ timeout: 15000 });
      assert.match(await tile.getAttribute('class'), /video-off/);
      // Turning the camera on later adds a video track the other side gets.
      await testid(b.page, 'tool-camera').click();
      await a.page.waitForFunction(
        () => [...document.querySelectorAll('[data-testid="tile-remote"]')].some((t) => t.textContent.includes('Muted') && !t.classList.contains('video-off')),
        null,
        { timeout: 20000 },
      );

      await tile.hover();
      await tile.locator('[data-testid="participant-actions"]').click();
      await tile.locator('[data-testid="action-grant"]').click();
      await b.page.locator('[data-testid="tile-local"] [data-testid="badge-moderator"]').waitFor({ timeout: 15000 });
      await tile.locator('[data-testid="badge-moderator"]').waitFor({ timeout: 15000 });

      // More -> settings: a new display name reaches the other side.
      await testid(b.page, 'tool-more').click();
      await testid(b.page, 'settings-name').fill('Renamed');
      await testid(b.page, 'settings-save').click();
      await remoteTile(a.page, 'Renamed').waitFor({ timeout: 15000 });
      // Unmuting reaches the other side too.
      await testid(b.page, 'tool-mic').click();
      await remoteTile(a.page, 'Renamed').locator('[data-testid="badge-muted"]').waitFor({ state: 'detached', timeout: 15000 });
    } finally {
      await browser.close();
    }
  });
});

describe('IFrame API', { skip }, () => {
  test('a page embedding external_api.js joins and gets events', async () => {
    const browser = await launch();
    const embed = await embedServer();
    try {
      const room = roomName('embed');
      const host = await participant(browser);
      await host.page.goto(`${embed.origin}/embed.html`);
      await host.page.evaluate(
        ({ domain, room }) => {
          window.events = [];
          const api = new window.JitsiMeetExternalAPI(domain, {
            roomName: room,
            parentNode: document.getElementById('meet'),
            width: 800,
            height: 500,
            userInfo: { displayName: 'Embedded' },
            configOverwrite: { prejoinPageEnabled: false },
          });
          for (const ev of ['videoConferenceJoined', 'videoConferenceLeft', 'participantJoined', 'participantLeft', 'audioMuteStatusChanged']) {
            api.addEventListener(ev, (data) => window.events.push({ ev, data }));
          }
          window.api = api;
        },
        { domain: new URL(BASE).host, room },
      );
      const waitEvent = (ev, pred = 'true') =>
        host.page.waitForFunction(([ev, pred]) => window.events.some((e) => e.ev === ev && new Function('d', `return ${pred}`)(e.data)), [ev, pred], { timeout: 30000 });
      await waitEvent('videoConferenceJoined', `d.roomName === ${JSON.stringify(room)} && d.displayName === 'Embedded'`);

      const guest = await participant(browser);
      await join(guest.page, room, 'Guest', { waitPreview: false });
      await waitEvent('participantJoined');
      await remoteTile(guest.page, 'Embedded').waitFor();

      await host.page.evaluate(() => window.api.executeCommand('toggleAudio'));
      await waitEvent('audioMuteStatusChanged', 'd.muted === true');
      await host.page.evaluate(() => window.api.executeCommand('displayName', 'Renamed'));
      await remoteTile(guest.page, 'Renamed').waitFor({ timeout: 15000 });

      await testid(guest.page, 'tool-hangup').click();
      await waitEvent('participantLeft');
      await host.page.evaluate(() => window.api.executeCommand('hangup'));
      await waitEvent('videoConferenceLeft');
    } finally {
      embed.close();
      await browser.close();
    }
  });
});

describe('connection loss', { skip }, () => {
  test('a dropped XMPP connection is reported and the participant rejoins by itself', async () => {
    const browser = await launch();
    try {
      const room = roomName('reconnect');
      const a = await participant(browser);
      const b = await participant(browser);
      // A's XMPP WebSocket goes through the test so it can be cut.
      const sockets = [];
      await a.page.routeWebSocket(/\/xmpp-websocket/, (ws) => {
        ws.connectToServer();
        sockets.push(ws);
      });
      await join(a.page, room, 'Dropped', { waitPreview: false });
      await join(b.page, room, 'Stays', { waitPreview: false });
      await remoteTile(b.page, 'Dropped').waitFor({ timeout: 20000 });
      const firstId = await a.page.locator('[data-testid="tile-local"]').getAttribute('data-participant');

      for (const ws of sockets) await ws.close({ code: 1006, reason: 'test cut' }).catch(() => ws.close());
      await a.page.locator('[data-notice="connectionLost"]').waitFor({ timeout: 20000 });
      await a.page.waitForFunction(
        (old) => {
          const id = document.querySelector('[data-testid="tile-local"]')?.dataset.participant;
          return id && id !== 'local' && id !== old && !document.querySelector('[data-notice="status"]');
        },
        firstId,
        { timeout: 60000 },
      );
      await remoteTile(a.page, 'Stays').waitFor({ timeout: 20000 });
      await remoteTile(b.page, 'Dropped').waitFor({ timeout: 20000 });
      assert.equal(await remoteTile(b.page, 'Dropped').count(), 1);
    } finally {
      await browser.close();
    }
  });
});
