// Our own conference request to the focus (protocol notes §1). The
// lib-jitsi-meet build we use never reports focus errors to the application
// (§11.1: they are emitted under the event name `undefined` and retried
// forever), so before letting the library join we ask the focus ourselves
// and act on its answer: ready, authentication required, or unavailable.
import type { LjmXmppConnection } from './ljm-types';

const FOCUS_NS = 'http://jitsi.org/protocol/focus';

export type FocusAnswer =
  | { kind: 'ready'; sessionId?: string; identity?: string }
  | { kind: 'not-ready' }
  | { kind: 'auth-required' }
  | { kind: 'session-invalid' }
  | { kind: 'error'; condition: string }
  | { kind: 'timeout' };

/** The per-browser id the library also sends (same localStorage key, so both agree). */
export function machineUid(): string {
  const key = 'jitsiMeetId';
  try {
    const existing = localStorage.getItem(key);
    if (existing) return existing;
  } catch {
    /* storage unavailable: a fresh id per page */
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const id = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  try {
    localStorage.setItem(key, id);
  } catch {
    /* ignore */
  }
  return id;
}

/** The focus session id after a login (the library reads the same key). */
export const focusSession = {
  get(): string | null {
    try {
      return localStorage.getItem('sessionId');
    } catch {
      return null;
    }
  },
  set(id: string | null): void {
    try {
      if (id) localStorage.setItem('sessionId', id);
      else localStorage.removeItem('sessionId');
    } catch {
      /* ignore */
    }
  },
};

function conferenceIq(focus: string, roomJid: string): Element {
  const doc = document.implementation.createDocument(null, null, null);
  const iq = doc.createElement('iq');
  iq.setAttribute('xmlns', 'jabber:client');
  iq.setAttribute('type', 'set');
  iq.setAttribute('to', focus);
  const conf = doc.createElement('conference');
  conf.setAttribute('xmlns', FOCUS_NS);
  conf.setAttribute('room', roomJid);
  conf.setAttribute('machine-uid', machineUid());
  const session = focusSession.get();
  if (session) conf.setAttribute('session-id', session);
  iq.appendChild(conf);
  return iq;
}

function children(el: Element | undefined): string[] {
  return el ? [...el.children].map((c) => c.localName) : [];
}

export function askFocus(conn: LjmXmppConnection, focus: string, roomJid: string, timeoutMs = 15000): Promise<FocusAnswer> {
  return new Promise((resolve) => {
    conn.sendIQ(
      conferenceIq(focus, roomJid),
      (result) => {
        const conf = result.getElementsByTagName('conference')[0];
        if (conf?.getAttribute('ready') !== 'true') {
          resolve({ kind: 'not-ready' });
          return;
        }
        const answer: FocusAnswer = { kind: 'ready' };
        const sid = conf.getAttribute('session-id');
        const identity = conf.getAttribute('identity');
        if (sid) answer.sessionId = sid;
        if (identity) answer.identity = identity;
        resolve(answer);
      },
      (error) => {
        if (!error) {
          resolve({ kind: 'timeout' });
          return;
        }
        const conditions = children(error.getElementsByTagName('error')[0]);
        if (conditions.includes('not-authorized')) resolve({ kind: 'auth-required' });
        else if (conditions.includes('session-invalid') || conditions.includes('not-acceptable'))
          resolve({ kind: 'session-invalid' });
        else resolve({ kind: 'error', condition: conditions.find((c) => c !== 'text') ?? 'unknown' });
      },
      timeoutMs,
    );
  });
}

/**
 * Watches the focus's presence in the room (§2.1): <bridgeNotAvailable/>
 * means no videobridge could be allocated; an unavailable presence means the
 * focus left. Returns a function that stops watching.
 */
export function watchFocusPresence(
  conn: LjmXmppConnection,
  roomJid: string,
  on: { bridgeDown(): void; focusLeft(): void },
): () => void {
  const focusOccupant = `${roomJid}/focus`;
  // The library's connection wrapper does not hand back Strophe's handler
  // reference, so the handler retires itself (returning false) once stopped.
  let active = true;
  conn.addHandler(
    (p) => {
      if (!active) return false;
      if (p.getAttribute('from') !== focusOccupant) return true;
      if (p.getAttribute('type') === 'unavailable') on.focusLeft();
      else if (p.getElementsByTagName('bridgeNotAvailable').length) on.bridgeDown();
      return true;
    },
    null,
    'presence',
  );
  return () => {
    active = false;
  };
}
