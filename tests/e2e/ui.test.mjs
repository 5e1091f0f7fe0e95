// UI-only browser tests: need the web server (meet-web or static-server.mjs)
// but no XMPP server, focus or videobridge.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, BASE, embedServer, launch, measureWeight, participant, testid } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('home page renders in English for an English browser', async () => {
  const { context, page } = await participant(browser, { locale: 'en-US' });
  const weight = await measureWeight(page, async () => {
    await page.goto(BASE + '/');
    await testid(page, 'room-name').waitFor();
  });
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  assert.equal(await page.locator('h1').textContent(), 'Secure video meetings');
  assert.equal(await testid(page, 'go').textContent(), 'Go');
  const name = await testid(page, 'room-name').inputValue();
  assert.match(name, /^([A-Z][a-z]+){4}$/, `generated name ${name}`);
  assert.ok(name.length >= 16, `generated name ${name} is long`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'home-en.png') });
  console.log(`PAGE WEIGHT home: ${weight.wire} bytes transferred, ${weight.decoded} bytes decoded, ${weight.entries.length} requests`);
  for (const e of weight.entries) console.log(`  ${e.wire}\t${e.decoded}\t${e.url.replace(BASE, '')}`);
  await context.close();
});

test('home page renders in Russian for a Russian browser', async () => {
  const { context, page } = await participant(browser, { locale: 'ru-RU' });
  await page.goto(BASE + '/');
  await testid(page, 'room-name').waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'ru');
  assert.equal(await page.locator('h1').textContent(), 'Защищённые видеоконференции');
  assert.equal(await testid(page, 'go').textContent(), 'Перейти');
  const name = await testid(page, 'room-name').inputValue();
  assert.match(name, /^([А-ЯЁ][а-яё]+){4}$/u, `generated name ${name}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'home-ru.png') });
  await context.close();
});

test('the language can be switched and the choice is remembered', async () => {
  const { context, page } = await participant(browser, { locale: 'en-US' });
  await page.goto(BASE + '/');
  await testid(page, 'room-name').fill('Team sync');
  await testid(page, 'lang-select').selectOption('ru');
  assert.equal(await page.locator('html').getAttribute('lang'), 'ru');
  assert.equal(await page.locator('h1').textContent(), 'Защищённые видеоконференции');
  // What was typed survives the switch.
  assert.equal(await testid(page, 'room-name').inputValue(), 'Team sync');
  await page.reload();
  await testid(page, 'room-name').waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'ru');
  await testid(page, 'lang-select').selectOption('en');
  assert.equal(await page.locator('h1').textContent(), 'Secure video meetings');
  await context.close();
});

test('generated names differ and Go opens the canonical room URL', async () => {
  const { context, page } = await participant(browser);
  await page.goto(BASE + '/');
  const names = new Set();
  for (let i = 0; i < 5; i++) {
    names.add(await testid(page, 'room-name').inputValue());
    await testid(page, 'regenerate').click();
  }
  assert.ok(names.size >= 4, `names: ${[...names].join(', ')}`);
  await testid(page, 'room-name').fill('Планёрка  Отдела 3!');
  assert.match(await testid(page, 'room-preview').textContent(), /\/планёрка-отдела-3$/);
  await testid(page, 'go').click();
  await page.waitForURL((u) => u.pathname !== '/');
  assert.equal(decodeURIComponent(new URL(page.url()).pathname), '/планёрка-отдела-3');
  await testid(page, 'prejoin').waitFor();
  // The title shows the name as typed.
  assert.equal(await page.locator('.prejoin h1').textContent(), 'Планёрка  Отдела 3!');
  await context.close();
});

test('a room URL with capitals and spaces is rewritten to its canonical form', async () => {
  const { context, page } = await participant(browser);
  await page.goto(BASE + '/Team%20Sync');
  await testid(page, 'prejoin').waitFor();
  assert.equal(new URL(page.url()).pathname, '/team-sync');
  await context.close();
});

test('pre-join shows the local camera preview and remembers the name', async () => {
  const { context, page } = await participant(browser);
  const weight = await measureWeight(page, async () => {
    await page.goto(BASE + '/preview-check');
    await page.waitForFunction(() => {
      const v = document.querySelector('[data-testid="preview-video"]');
      return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.hidden;
    }, null, { timeout: 20000 });
  });
  console.log(`PAGE WEIGHT conference page (up to pre-join): ${weight.wire} bytes transferred, ${weight.decoded} bytes decoded, ${weight.entries.length} requests`);
  for (const e of weight.entries) console.log(`  ${e.wire}\t${e.decoded}\t${e.url.replace(BASE, '')}`);
  assert.equal((await testid(page, 'prejoin-status').textContent()).trim(), '');
  // Camera off stops the preview; on again brings it back.
  await testid(page, 'prejoin-camera').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="preview-video"]').hidden);
  await testid(page, 'prejoin-camera').click();
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="preview-video"]');
    return !v.hidden && v.videoWidth > 0;
  });
  await testid(page, 'display-name').fill('Алиса <b>bold</b>');
  await page.screenshot({ path: path.join(ARTIFACTS, 'prejoin.png') });
  await testid(page, 'join').click();
  await testid(page, 'conference').waitFor();
  // The local tile shows the name as text, never as markup.
  await page.waitForFunction(() => document.querySelector('[data-testid="tile-local"] [data-testid="tile-name"]')?.textContent?.includes('<b>bold</b>'));
  assert.equal(await page.locator('[data-testid="tile-local"] b').count(), 0);
  await page.goto(BASE + '/another-room');
  assert.equal(await testid(page, 'display-name').inputValue(), 'Алиса <b>bold</b>');
  await context.close();
});

test('joined rooms appear in the recent list and can be removed', async () => {
  const { context, page } = await participant(browser);
  await page.goto(BASE + '/');
  await testid(page, 'room-name').fill('Recent Check');
  await testid(page, 'go').click();
  await testid(page, 'join').click();
  await testid(page, 'conference').waitFor();
  await page.goto(BASE + '/');
  const item = page.locator('[data-testid="recent"] li[data-room="recent-check"]');
  await item.waitFor();
  assert.equal(await item.locator('a').textContent(), 'Recent Check');
  assert.equal(await item.locator('a').getAttribute('href'), '/recent-check');
  await item.locator('button').click();
  assert.equal(await page.locator('[data-testid="recent"] li').count(), 0);
  await context.close();
});

test('a refused camera gets a clear message and joining stays possible', async () => {
  const { context, page } = await participant(browser);
  await page.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
  });
  await page.goto(BASE + '/denied-check');
  await page.waitForFunction(() => document.querySelector('[data-testid="prejoin-status"]')?.classList.contains('error'), null, { timeout: 20000 });
  assert.match(await testid(page, 'prejoin-status').textContent(), /refused/);
  assert.equal(await testid(page, 'join').isEnabled(), true);
  await context.close();
});

test('unknown paths get the localized not-found page', async () => {
  const { context, page } = await participant(browser, { locale: 'ru-RU' });
  const res = await page.goto(BASE + '/no/such/file.txt');
  assert.equal(res.status(), 404);
  await page.locator('h1').waitFor();
  assert.equal(await page.locator('h1').textContent(), 'Страница не найдена');
  await context.close();
});

test('external_api.js builds the iframe URL from its options', async () => {
  const { context, page } = await participant(browser);
  const embed = await embedServer();
  const host = new URL(BASE).host;
  await page.goto(`${embed.origin}/embed.html`);
  const src = await page.evaluate((domain) => {
    const api = new window.JitsiMeetExternalAPI(domain, {
      roomName: 'Embedded Room',
      parentNode: document.getElementById('meet'),
      width: 640,
      height: 360,
      userInfo: { displayName: 'Bob' },
      configOverwrite: { prejoinPageEnabled: false },
    });
    return api.getIFrame().src;
  }, host);
  const u = new URL(src);
  assert.equal(u.origin, new URL(BASE).origin);
  assert.equal(u.pathname, '/Embedded%20Room');
  assert.match(u.hash, /config\.prejoinPageEnabled=false/);
  assert.match(u.hash, /userInfo\.displayName=%22Bob%22/);
  // The app inside skips pre-join and lands on the canonical room.
  const frame = page.frameLocator('iframe');
  await frame.locator('[data-testid="conference"]').waitFor({ timeout: 20000 });
  await context.close();
  embed.close();
});
