// The app's side of the IFrame API (external_api.js is the other side).
// Messages are plain objects tagged `meetApi: 1` with the embedding id:
//   parent -> app: {kind:'hello'} once the iframe loaded, then {kind:'command', name, data}
//   app -> parent: {kind:'event', name, data}
// The app learns the parent's origin from the hello and only then sends
// events (queued until then) and accepts commands, and only from that window.

export type ApiCommand = 'toggleAudio' | 'toggleVideo' | 'hangup' | 'displayName' | 'password' | 'toggleChat' | 'toggleTileView';
export type ApiEvent =
  | 'videoConferenceJoined'
  | 'videoConferenceLeft'
  | 'participantJoined'
  | 'participantLeft'
  | 'audioMuteStatusChanged'
  | 'videoMuteStatusChanged'
  | 'displayNameChange'
  | 'readyToClose';

interface Envelope {
  meetApi: 1;
  id: string;
  kind: 'hello' | 'command' | 'event';
  name?: string;
  data?: unknown;
}

function isEnvelope(v: unknown, id: string): v is Envelope {
  const e = v as Partial<Envelope> | null;
  return typeof e === 'object' && e !== null && e.meetApi === 1 && e.id === id && typeof e.kind === 'string';
}

export class ApiBridge {
  private parentOrigin: string | null = null;
  private queue: Array<[ApiEvent, unknown]> = [];
  private handlers: Partial<Record<ApiCommand, (data: unknown) => void>> = {};

  constructor(private readonly id: string) {
    window.addEventListener('message', (ev) => {
      if (ev.source !== window.parent || !isEnvelope(ev.data, this.id)) return;
      if (ev.data.kind === 'hello') {
        if (this.parentOrigin === null) {
          this.parentOrigin = ev.origin;
          for (const [name, data] of this.queue) this.post(name, data);
          this.queue = [];
        }
        return;
      }
      if (ev.data.kind !== 'command' || ev.origin !== this.parentOrigin) return;
      const fn = this.handlers[ev.data.name as ApiCommand];
      fn?.(ev.data.data);
    });
  }

  handle(name: ApiCommand, fn: (data: unknown) => void): void {
    this.handlers[name] = fn;
  }

  emit(name: ApiEvent, data: unknown = {}): void {
    if (this.parentOrigin === null) this.queue.push([name, data]);
    else this.post(name, data);
  }

  private post(name: ApiEvent, data: unknown): void {
    const msg: Envelope = { meetApi: 1, id: this.id, kind: 'event', name, data };
    window.parent.postMessage(msg, this.parentOrigin ?? '*');
  }
}

/** The bridge when this page runs inside external_api.js's iframe, else null. */
export function apiBridge(externalApiId: string | undefined): ApiBridge | null {
  return externalApiId && window.parent !== window ? new ApiBridge(externalApiId) : null;
}
