// Shared helpers for the browser tests: Debian's Chromium with fake media,
// fresh contexts per participant, and small page helpers.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createServer } from 'node:http';
import path from 'node:path';

export const BASE = process.env.MEET_BASE_URL ?? 'http://localhost:8000';
export const FULL_STACK = process.env.MEET_FULL_STACK === '1';
export const ARTIFACTS = path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

// design.md §4: the flags for Chromium as root in tests. Playwright adds
// --headless and gives every launch a fresh temporary profile.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // getDisplayMedia in headless Chromium: pick the screen without a picker.
  '--auto-select-desktop-capture-source=Entire screen',
  '--enable-usermedia-screen-capturing',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * A continuous tone for the fake microphone (Chromium loops the file): the
 * default fake device only beeps, which is too short to count as speech for
 * the bridge's dominant-speaker detection.
 */
function toneFile() {
  const file = path.join(os.tmpdir(), 'meet-e2e-tone.wav');
  if (existsSync(file)) return file;
  const rate = 48000;
  const samples = rate * 4;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    // 220 Hz plus a little 330 Hz, at about half scale.
    const v = 0.35 * Math.sin((2 * Math.PI * 220 * i) / rate) + 0.15 * Math.sin((2 * Math.PI * 330 * i) / rate);
    buf.writeInt16LE(Math.round(v * 32767), 44 + i * 2);
  }
  writeFileSync(file, buf);
  return file;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, `--use-file-for-fake-audio-capture=${toneFile()}`, ...(process.env.E2E_CHROMIUM_FLAGS ?? '').split(' ').filter(Boolean)],
  });
}

/** A new participant: an isolated context (own localStorage) in the shared browser. */
export async function participant(browser, { locale = 'en-US' } = {}) {
  const context = await browser.newContext({
    locale,
    viewport: { width: 1280, height: 720 },
    permissions: ['camera', 'microphone'],
  });
  // Keep every RTCPeerConnection so tests can read getStats().
  await context.addInitScript(() => {
    const Orig = window.RTCPeerConnection;
    if (!Orig) return;
    window.__pcs = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new Orig(...args);
      window.__pcs.push(pc);
      return pc;
    };
    window.RTCPeerConnection.prototype = Orig.prototype;
    Object.setPrototypeOf(window.RTCPeerConnection, Orig);
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  if (process.env.E2E_CONSOLE) page.on('console', (m) => console.log(`[console ${m.type()}] ${m.text()}`));
  return { context, page };
}

export function testid(page, id) {
  return page.locator(`[data-testid="${id}"]`);
}

/** Inbound RTP totals over all peer connections of a page. */
export async function inboundStats(page) {
  return page.evaluate(async () => {
    const out = { audioBytes: 0, videoBytes: 0, framesDecoded: 0 };
    for (const pc of window.__pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const kind = s.kind ?? s.mediaType;
        if (kind === 'audio') out.audioBytes += s.bytesReceived ?? 0;
        if (kind === 'video') {
          out.videoBytes += s.bytesReceived ?? 0;
          out.framesDecoded += s.framesDecoded ?? 0;
        }
      });
    }
    return out;
  });
}

/** A random room name for one test. */
export function roomName(prefix) {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Sums what a page downloaded while `action` ran: bytes on the wire and decoded. */
export async function measureWeight(page, action) {
  const entries = [];
  const onResponse = async (res) => {
    try {
      const sizes = await res.request().sizes();
      const body = await res.body().catch(() => Buffer.alloc(0));
      entries.push({ url: res.url(), wire: sizes.responseBodySize, decoded: body.length });
    } catch {
      /* aborted request */
    }
  };
  page.on('response', onResponse);
  await action();
  await page.waitForTimeout(300);
  page.off('response', onResponse);
  const wire = entries.reduce((a, e) => a + e.wire, 0);
  const decoded = entries.reduce((a, e) => a + e.decoded, 0);
  return { wire, decoded, entries };
}

/**
 * An embedding page on another loopback origin (127.0.0.1 vs. localhost),
 * as a site using the IFrame API would be; `body` is extra HTML after the
 * external_api.js script tag.
 */
export async function embedServer(body = '') {
  const html = `<!doctype html><html><body><div id="meet"></div><script src="${BASE}/external_api.js"></script>${body}</body></html>`;
  const server = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}
