// The slice of lib-jitsi-meet's runtime API that jitsi.ts uses, typed by hand
// (the package's own .d.ts files describe its sources, not the UMD bundle we
// load). Only jitsi.ts and its helpers import this file.

export interface LjmTrack {
  getType(): 'audio' | 'video';
  getVideoType?(): 'camera' | 'desktop' | undefined;
  getParticipantId(): string;
  getId(): string;
  isLocal(): boolean;
  isMuted(): boolean;
  attach(el: HTMLMediaElement): void;
  detach(el: HTMLMediaElement): void;
  getTrack(): MediaStreamTrack;
  getDeviceId?(): string;
  mute(): Promise<void>;
  unmute(): Promise<void>;
  dispose(): Promise<void>;
  addEventListener(ev: string, fn: (...a: unknown[]) => void): void;
  removeEventListener(ev: string, fn: (...a: unknown[]) => void): void;
}

export interface LjmParticipant {
  getId(): string;
  getDisplayName(): string | undefined;
  getRole(): string;
  isModerator(): boolean;
  getProperty(name: string): unknown;
  getTracks(): LjmTrack[];
  isAudioMuted?(): boolean;
  isVideoMuted?(): boolean;
}

export interface LjmConference {
  on(ev: string, fn: (...a: never[]) => void): void;
  off(ev: string, fn: (...a: never[]) => void): void;
  join(password?: string): void;
  leave(): Promise<void>;
  myUserId(): string;
  isModerator(): boolean | null;
  setDisplayName(name: string): void;
  addTrack(t: LjmTrack): Promise<void>;
  removeTrack(t: LjmTrack): Promise<void>;
  replaceTrack(oldT: LjmTrack | null, newT: LjmTrack | null): Promise<void>;
  sendTextMessage(text: string): void;
  setLocalParticipantProperty(name: string, value: string): void;
  lock(password: string): Promise<void>;
  unlock(): Promise<void>;
  kickParticipant(id: string, reason?: string): void;
  muteParticipant(id: string, mediaType?: 'audio' | 'video'): void;
  grantOwner(id: string): void;
  getParticipantById(id: string): LjmParticipant | undefined;
  getParticipants(): LjmParticipant[];
  getLocalTracks(): LjmTrack[];
  isJoined(): boolean | null;
  setReceiverConstraints?(c: unknown): void;
}

export interface LjmXmppConnection {
  connected: boolean;
  sendIQ(el: Element, ok: (r: Element) => void, err: (e: Element | null) => void, timeout?: number): void;
  /** Strophe's addHandler; the wrapper returns nothing, so a handler removes itself by returning false. */
  addHandler(fn: (s: Element) => boolean, ns: string | null, name: string | null, type?: string | null): void;
}

export interface LjmConnection {
  addEventListener(ev: string, fn: (...a: never[]) => void): void;
  removeEventListener(ev: string, fn: (...a: never[]) => void): void;
  connect(opts?: { id?: string; password?: string }): void;
  disconnect(): Promise<void>;
  getJid(): string;
  initJitsiConference(name: string, options: unknown): LjmConference;
  xmpp: { connection: LjmXmppConnection };
}

export interface JitsiMeetJSApi {
  version?: string;
  init(opts: unknown): void;
  setLogLevel(level: string): void;
  logLevels: Record<string, string>;
  JitsiConnection: new (appId: string | null, token: string | null, options: unknown) => LjmConnection;
  createLocalTracks(opts: {
    devices: Array<'audio' | 'video' | 'desktop'>;
    cameraDeviceId?: string;
    micDeviceId?: string;
    resolution?: number;
  }): Promise<LjmTrack[]>;
  mediaDevices: {
    enumerateDevices(cb: (devices: MediaDeviceInfo[]) => void): void;
  };
}

declare global {
  interface Window {
    JitsiMeetJS?: JitsiMeetJSApi;
    jQuery?: unknown;
    jquery?: unknown;
  }
}
