// external_api.js: embeds a meeting in another page (the IFrame API).
//
//   const api = new JitsiMeetExternalAPI('meet.example.com', {
//     roomName: 'team-sync', parentNode: el, width: '100%', height: 600,
//     userInfo: { displayName: 'Alice' },
//     configOverwrite: { prejoinPageEnabled: false, startWithAudioMuted: true },
//   });
//   api.executeCommand('toggleAudio');
//   api.addEventListener('videoConferenceJoined', (e) => ...);
//   api.dispose();
//
// Supported commands: toggleAudio, toggleVideo, hangup, displayName(name),
// password(pwd), toggleChat, toggleTileView. Events: videoConferenceJoined
// {roomName,id,displayName}, videoConferenceLeft {roomName},
// participantJoined {id,displayName}, participantLeft {id},
// audioMuteStatusChanged {muted}, readyToClose.
// Messages are tagged with this API's id and checked against the iframe's
// window and origin, so several embeds on one page do not mix.

type Listener = (data: unknown) => void;

interface Options {
  roomName?: string;
  parentNode?: HTMLElement;
  width?: number | string;
  height?: number | string;
  userInfo?: { displayName?: string; email?: string };
  configOverwrite?: Record<string, unknown>;
  lang?: string;
  onload?: () => void;
}

const COMMANDS = ['toggleAudio', 'toggleVideo', 'hangup', 'displayName', 'password', 'toggleChat', 'toggleTileView'];
let nextId = 0;

function size(v: number | string | undefined, fallback: string): string {
  if (v === undefined) return fallback;
  return typeof v === 'number' ? `${v}px` : v;
}

function isLocal(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\./.test(name);
}

class JitsiMeetExternalAPI {
  readonly iframe: HTMLIFrameElement;
  private readonly id: string;
  private readonly origin: string;
  private listeners = new Map<string, Set<Listener>>();
  private onMessage: (ev: MessageEvent) => void;

  constructor(domain: string, options: Options = {}) {
    this.id = `${Date.now().toString(36)}-${nextId++}`;
    // HTTPS always, except that a page on a development host keeps its own
    // protocol (meetctl up serves plain HTTP on localhost).
    const protocol = isLocal(domain) && location.protocol === 'http:' ? 'http:' : 'https:';
    this.origin = `${protocol}//${domain}`;
    const hash: string[] = [`jitsi_meet_external_api_id=${encodeURIComponent(this.id)}`];
    for (const [k, v] of Object.entries(options.configOverwrite ?? {})) {
      hash.push(`config.${encodeURIComponent(k)}=${encodeURIComponent(JSON.stringify(v))}`);
    }
    if (options.userInfo?.displayName !== undefined) {
      hash.push(`userInfo.displayName=${encodeURIComponent(JSON.stringify(options.userInfo.displayName))}`);
    }
    const room = options.roomName ? encodeURIComponent(options.roomName) : '';
    const iframe = document.createElement('iframe');
    iframe.src = `${this.origin}/${room}#${hash.join('&')}`;
    iframe.allow = 'camera; microphone; display-capture; autoplay; clipboard-write';
    iframe.setAttribute('allowfullscreen', 'true');
    iframe.name = `jitsiConferenceFrame${nextId - 1}`;
    iframe.style.border = '0';
    iframe.style.width = size(options.width, '100%');
    iframe.style.height = size(options.height, '100%');
    iframe.addEventListener('load', () => {
      iframe.contentWindow?.postMessage({ meetApi: 1, id: this.id, kind: 'hello' }, this.origin);
      options.onload?.();
    });
    this.iframe = iframe;
    this.onMessage = (ev: MessageEvent) => {
      const d = ev.data as { meetApi?: number; id?: string; kind?: string; name?: string; data?: unknown } | null;
      if (ev.source !== iframe.contentWindow || ev.origin !== this.origin) return;
      if (!d || d.meetApi !== 1 || d.id !== this.id || d.kind !== 'event' || typeof d.name !== 'string') return;
      for (const fn of [...(this.listeners.get(d.name) ?? [])]) fn(d.data);
    };
    window.addEventListener('message', this.onMessage);
    (options.parentNode ?? document.body).appendChild(iframe);
  }

  executeCommand(name: string, ...args: unknown[]): void {
    if (!COMMANDS.includes(name)) {
      console.warn(`JitsiMeetExternalAPI: unsupported command ${name}`);
      return;
    }
    this.iframe.contentWindow?.postMessage({ meetApi: 1, id: this.id, kind: 'command', name, data: args[0] }, this.origin);
  }

  executeCommands(commands: Record<string, unknown>): void {
    for (const [name, arg] of Object.entries(commands)) this.executeCommand(name, arg);
  }

  addEventListener(name: string, fn: Listener): void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
  }

  removeEventListener(name: string, fn: Listener): void {
    this.listeners.get(name)?.delete(fn);
  }

  on(name: string, fn: Listener): this {
    this.addEventListener(name, fn);
    return this;
  }

  off(name: string, fn: Listener): this {
    this.removeEventListener(name, fn);
    return this;
  }

  getIFrame(): HTMLIFrameElement {
    return this.iframe;
  }

  dispose(): void {
    window.removeEventListener('message', this.onMessage);
    this.listeners.clear();
    this.iframe.remove();
  }
}

(window as unknown as { JitsiMeetExternalAPI: typeof JitsiMeetExternalAPI }).JitsiMeetExternalAPI = JitsiMeetExternalAPI;
