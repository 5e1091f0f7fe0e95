// Unit tests of the pure parts of the app (room names, URL hash options),
// bundled on the fly with esbuild so they run under plain node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);

async function load(entry) {
  const out = await build({
    entryPoints: [path.join(here, '..', entry)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2020',
    logLevel: 'silent',
  });
  const code = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

const rooms = await load('src/room-name.ts');
const config = await load('src/config.ts');

test('room names: any script kept, lower case, separators to one hyphen, the rest dropped', () => {
  const { toRoomName } = rooms;
  assert.equal(toRoomName('Планёрка отдела 3'), 'планёрка-отдела-3');
  assert.equal(toRoomName('  Team   Sync!! '), 'team-sync');
  assert.equal(toRoomName('会议室 A'), '会议室-a');
  assert.equal(toRoomName('a_b.c-d'), 'a-b-c-d');
  assert.equal(toRoomName('x@y/z:"<w>'), 'xyzw');
  assert.equal(toRoomName('---'), '');
  assert.equal(toRoomName('BraveOttersSingLoudly'), 'braveotterssingloudly');
  // NFC: a decomposed ё becomes the composed one.
  assert.equal(toRoomName('е\u0308лка'), 'ёлка');
  assert.equal([...toRoomName('я'.repeat(100))].length, 64);
  // Idempotent: a canonical name maps to itself.
  for (const r of ['планёрка-отдела-3', 'team-sync', '会议室-a']) assert.equal(toRoomName(r), r);
});

test('room paths round-trip through percent-encoding', () => {
  const { roomPath, roomFromPath } = rooms;
  assert.equal(roomPath('планёрка-3'), '/%D0%BF%D0%BB%D0%B0%D0%BD%D1%91%D1%80%D0%BA%D0%B0-3');
  assert.equal(roomFromPath(roomPath('планёрка-3')), 'планёрка-3');
  assert.equal(roomFromPath('/Team%20Sync'), 'team-sync');
  assert.equal(roomFromPath('/'), '');
  assert.equal(roomFromPath('/%E0%A4%A'), 'e0a4a');
});

test('hash options: config and display name from an embedding page, never hosts or service URLs', () => {
  const { parseHash } = config;
  const h = parseHash(
    '#jitsi_meet_external_api_id=abc&config.prejoinPageEnabled=false&config.startWithAudioMuted=true' +
      '&config.hosts=%7B%22domain%22%3A%22evil%22%7D&config.websocket=%22wss%3A%2F%2Fevil%22' +
      '&userInfo.displayName=%22Al%C3%AFce%22&config.subject=plain',
  );
  assert.equal(h.externalApiId, 'abc');
  assert.deepEqual(h.config, { prejoinPageEnabled: false, startWithAudioMuted: true, subject: 'plain' });
  assert.equal(h.userInfo.displayName, 'Alïce');
});
