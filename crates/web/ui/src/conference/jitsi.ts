// The one module that knows lib-jitsi-meet. The UI talks to a `Meeting` and
// receives its own types (ParticipantInfo, LocalMedia, RemoteMedia), so the
// library could be replaced without touching the views.
//
// Joining goes: XMPP connection -> our own conference request to the focus
// (focus.ts; the library would hide its errors, §11.1) -> the library's
// conference.join(). Failures become `failed`/`notice` events with a reason
// the UI can translate; connection losses are retried with back-off.
import type { MeetConfig } from '../config';
import { Emitter } from '../emitter';
import { askFocus, focusSession, watchFocusPresence, type FocusAnswer } from './focus';
import { loadLibJitsiMeet } from './loader';
import type { JitsiMeetJSApi, LjmConference, LjmConnection, LjmParticipant, LjmTrack } from './ljm-types';
import { LocalMedia, RemoteMedia } from './media';

export { LocalMedia, RemoteMedia, mediaErrorKind, type MediaError, type MediaKind } from './media';

export interface ParticipantInfo {
  id: string;
  name: string;
  moderator: boolean;
  raisedHand: boolean;
  audioMuted: boolean;
  videoMuted: boolean;
}

export interface ChatMessage {
  from: string;
  name: string;
  text: string;
  at: number;
  local: boolean;
}

export type MeetingStatus = 'connecting' | 'waitingForFocus' | 'waitingForHost' | 'joining' | 'joined' | 'reconnecting';

/** Why the meeting ended for good (no automatic retry). */
export type FailReason = 'kicked' | 'roomLocked' | 'maxUsers' | 'destroyed' | 'notAllowed';

/** Transient conditions shown as notices; the meeting keeps trying. */
export type Notice =
  | 'bridgeDown'
  | 'focusUnavailable'
  | 'connectionLost'
  | 'mediaInterrupted'
  | 'mediaRestored'
  /** The bridge channel opened: media can flow (clears a bridgeDown notice). */
  | 'mediaConnected'
  | 'mutedByModerator'
  | 'becameModerator';

export interface MeetingEvents {
  status: [MeetingStatus, number?];
  joined: [ParticipantInfo];
  failed: [FailReason, string?];
  notice: [Notice, number?];
  /** The room has a password; `wrong` when the last one did not work. */
  passwordRequired: [boolean];
  /** Creating the room needs a login; `canLogin` when this deployment has a login domain. */
  authRequired: [boolean];
  participantJoined: [ParticipantInfo];
  participantLeft: [string];
  participantChanged: [ParticipantInfo];
  localChanged: [ParticipantInfo];
  trackAdded: [RemoteMedia];
  trackRemoved: [RemoteMedia];
  trackMuteChanged: [RemoteMedia];
  localTracksChanged: [];
  dominantSpeaker: [string];
  message: [ChatMessage];
  lockChanged: [boolean];
  /** Everything remote is gone (before a reconnection). */
  reset: [];
  left: [];
}

const RAISED_HAND = 'raisedHand';

export async function loadMediaLibrary(): Promise<void> {
  await loadLibJitsiMeet();
}

/** Asks for camera and/or microphone; rejects with a library error (see mediaErrorKind). */
export async function createLocalMedia(opts: { audio: boolean; video: boolean; micId?: string; cameraId?: string }): Promise<LocalMedia[]> {
  const api = await loadLibJitsiMeet();
  const devices: Array<'audio' | 'video'> = [];
  if (opts.audio) devices.push('audio');
  if (opts.video) devices.push('video');
  if (!devices.length) return [];
  const req: Parameters<JitsiMeetJSApi['createLocalTracks']>[0] = { devices, resolution: 720 };
  if (opts.cameraId) req.cameraDeviceId = opts.cameraId;
  if (opts.micId) req.micDeviceId = opts.micId;
  const tracks = await api.createLocalTracks(req);
  return tracks.map((t) => new LocalMedia(t));
}

export async function listDevices(): Promise<MediaDeviceInfo[]> {
  try {
    return await navigator.mediaDevices.enumerateDevices();
  } catch {
    return [];
  }
}

function backoff(attempt: number): number {
  return Math.min(30, 2 ** Math.min(attempt, 5));
}

export class Meeting extends Emitter<MeetingEvents> {
  private api: JitsiMeetJSApi | null = null;
  private connection: LjmConnection | null = null;
  private conference: LjmConference | null = null;
  private stopWatchingFocus: (() => void) | null = null;
  private timers = new Set<number>();
  private password: string | undefined;
  private displayName = '';
  private local: LocalMedia[] = [];
  private cameraBeforeShare: LocalMedia | null = null;
  private raisedHand = false;
  private moderator = false;
  private attempts = 0;
  private closed = false;
  private joinedOnce = false;
  private readonly roomJid: string;
  private readonly focus: string;

  constructor(
    private readonly cfg: MeetConfig,
    readonly room: string,
  ) {
    super();
    this.roomJid = `${room}@${cfg.hosts.muc}`;
    this.focus = cfg.hosts.focus ?? `focus.${cfg.hosts.domain}`;
  }

  /** Starts connecting with the given local media; the meeting owns it from now on. */
  async start(displayName: string, media: LocalMedia[]): Promise<void> {
    this.displayName = displayName;
    this.local = media;
    this.api = await loadLibJitsiMeet();
    this.connect();
  }

  // ---- connection and focus ------------------------------------------------

  private connectionOptions(): unknown {
    const service = this.cfg.websocket || this.cfg.bosh || '/http-bind';
    const sep = service.includes('?') ? '&' : '?';
    return {
      hosts: this.cfg.hosts,
      serviceUrl: `${service}${sep}room=${encodeURIComponent(this.room)}`,
      focusUserJid: this.cfg.focusUserJid,
      enableWebsocketResume: false,
      p2p: { enabled: false },
    };
  }

  private connect(): void {
    if (this.closed || !this.api) return;
    this.emit('status', 'connecting');
    const conn = new this.api.JitsiConnection(null, null, this.connectionOptions());
    this.connection = conn;
    conn.addEventListener('connection.connectionEstablished', () => {
      if (conn !== this.connection) return;
      this.attempts = 0;
      void this.requestFocus();
    });
    conn.addEventListener('connection.connectionFailed', () => {
      if (conn === this.connection) this.reconnect();
    });
    conn.addEventListener('connection.connectionDisconnected', () => {
      if (conn === this.connection && !this.closed) this.reconnect();
    });
    conn.connect();
  }

  private async requestFocus(): Promise<void> {
    const conn = this.connection;
    if (!conn || this.closed) return;
    const answer: FocusAnswer = await askFocus(conn.xmpp.connection, this.focus, this.roomJid);
    if (conn !== this.connection || this.closed) return;
    switch (answer.kind) {
      case 'ready':
        this.joinConference(conn);
        return;
      case 'not-ready':
        this.emit('status', 'waitingForFocus');
        this.later(() => void this.requestFocus(), 1000);
        return;
      case 'session-invalid':
        focusSession.set(null);
        this.later(() => void this.requestFocus(), 500);
        return;
      case 'auth-required':
        // Guests wait for an authenticated host to create the room; ask
        // again every 5 s until then (or until the user logs in).
        this.emit('status', 'waitingForHost');
        this.emit('authRequired', Boolean(this.cfg.hosts.anonymousdomain));
        this.later(() => void this.requestFocus(), 5000);
        return;
      case 'error':
      case 'timeout': {
        const delay = backoff(++this.attempts);
        this.emit('notice', 'focusUnavailable', delay);
        this.later(() => void this.requestFocus(), delay * 1000);
        return;
      }
    }
  }

  /**
   * Secure-domain login (§1.4): a second connection to hosts.domain as
   * user@domain asks the focus for a session; the guest connection then
   * retries with that session id and is made moderator by the focus.
   * Rejects with 'badCredentials' or 'failed'.
   */
  async login(user: string, password: string): Promise<void> {
    if (!this.api) throw new Error('failed');
    const domain = this.cfg.hosts.authdomain ?? this.cfg.hosts.domain;
    const jid = user.includes('@') ? user : `${user}@${domain}`;
    const authConn = new this.api.JitsiConnection(null, null, this.connectionOptions());
    const answer = await new Promise<FocusAnswer>((resolve, reject) => {
      authConn.addEventListener('connection.connectionEstablished', () => {
        void askFocus(authConn.xmpp.connection, this.focus, this.roomJid).then(resolve);
      });
      authConn.addEventListener('connection.connectionFailed', (...args: never[]) => {
        const err = args[0] as unknown as string;
        reject(new Error(err === 'connection.passwordRequired' ? 'badCredentials' : 'failed'));
      });
      authConn.connect({ id: jid, password });
    }).finally(() => void authConn.disconnect().catch(() => undefined));
    if (answer.kind !== 'ready' || !answer.sessionId) throw new Error('failed');
    focusSession.set(answer.sessionId);
    this.clearTimers();
    await this.requestFocus();
  }

  // ---- the conference ------------------------------------------------------

  private joinConference(conn: LjmConnection): void {
    this.emit('status', 'joining');
    const conf = conn.initJitsiConference(this.room, {
      p2p: { enabled: false },
      openBridgeChannel: 'websocket',
      channelLastN: this.cfg.channelLastN ?? -1,
    });
    this.conference = conf;
    this.bindConference(conf);
    this.stopWatchingFocus?.();
    this.stopWatchingFocus = watchFocusPresence(conn.xmpp.connection, this.roomJid, {
      bridgeDown: () => this.emit('notice', 'bridgeDown'),
      focusLeft: () => {
        if (conf === this.conference) this.reconnect();
      },
    });
    conf.setDisplayName(this.displayName);
    if (this.raisedHand) conf.setLocalParticipantProperty(RAISED_HAND, String(Date.now()));
    for (const m of this.local) void conf.addTrack(m.track).catch((e) => console.warn('addTrack failed', e));
    conf.join(this.password);
  }

  private bindConference(conf: LjmConference): void {
    const on = (ev: string, fn: (...a: never[]) => void) => conf.on(ev, (...a: never[]) => {
      if (conf === this.conference) fn(...a);
    });
    on('conference.joined', () => {
      this.attempts = 0;
      this.joinedOnce = true;
      this.moderator = Boolean(conf.isModerator());
      this.emit('status', 'joined');
      this.sendReceiverView();
      this.emit('joined', this.localInfo());
      for (const p of conf.getParticipants()) this.emit('participantJoined', this.info(p));
    });
    on('conference.userJoined', (id: string, p: LjmParticipant) => {
      void id;
      this.emit('participantJoined', this.info(p));
    });
    on('conference.userLeft', (id: string) => this.emit('participantLeft', id));
    on('conference.displayNameChanged', (id: string) => this.changed(id));
    on('conference.roleChanged', (id: string, role: string) => {
      if (id === conf.myUserId()) {
        const was = this.moderator;
        this.moderator = role === 'moderator';
        if (this.moderator && !was && this.joinedOnce) this.emit('notice', 'becameModerator');
        this.emit('localChanged', this.localInfo());
      } else {
        this.changed(id);
      }
    });
    on('conference.participant_property_changed', (p: LjmParticipant) => this.emit('participantChanged', this.info(p)));
    on('conference.trackAdded', (t: LjmTrack) => {
      if (t.isLocal()) return;
      // A camera becoming a screen share (and back) arrives by presence as a
      // video-type change on the same track.
      t.addEventListener('track.videoTypeChanged', () => {
        if (conf === this.conference) this.emit('trackMuteChanged', new RemoteMedia(t));
      });
      this.emit('trackAdded', new RemoteMedia(t));
      this.changed(t.getParticipantId());
    });
    on('conference.trackRemoved', (t: LjmTrack) => {
      if (!t.isLocal()) this.emit('trackRemoved', new RemoteMedia(t));
    });
    on('conference.trackMuteChanged', (t: LjmTrack, actor?: LjmParticipant) => {
      if (t.isLocal()) {
        if (actor && t.isMuted()) this.emit('notice', 'mutedByModerator');
        this.emit('localChanged', this.localInfo());
        this.emit('localTracksChanged');
      } else {
        this.emit('trackMuteChanged', new RemoteMedia(t));
        this.changed(t.getParticipantId());
      }
    });
    on('conference.dominantSpeaker', (id: string) => this.emit('dominantSpeaker', id));
    on('conference.messageReceived', (id: string, text: string, ts?: number) => {
      const local = id === conf.myUserId();
      const name = local ? this.displayName : conf.getParticipantById(id)?.getDisplayName() ?? '';
      this.emit('message', { from: id, name, text, at: ts ? new Date(ts).getTime() : Date.now(), local });
    });
    on('conference.lock_state_changed', (locked: boolean) => this.emit('lockChanged', Boolean(locked)));
    on('conference.kicked', (actor?: LjmParticipant) => {
      this.emit('failed', 'kicked', actor?.getDisplayName() ?? '');
      void this.close();
    });
    on('conference.connectionInterrupted', () => this.emit('notice', 'mediaInterrupted'));
    on('conference.connectionRestored', () => this.emit('notice', 'mediaRestored'));
    on('conference.dataChannelOpened', () => this.emit('notice', 'mediaConnected'));
    on('conference.failed', (err: string) => this.onConferenceFailed(err));
  }

  private onConferenceFailed(err: string): void {
    switch (err) {
      case 'conference.passwordRequired':
        this.emit('passwordRequired', this.password !== undefined);
        return;
      case 'conference.connectionError.membersOnly':
      case 'conference.connectionError.accessDenied':
        this.emit('failed', 'roomLocked');
        void this.close();
        return;
      case 'conference.max_users':
        this.emit('failed', 'maxUsers');
        void this.close();
        return;
      case 'conference.destroyed':
        this.emit('failed', 'destroyed');
        void this.close();
        return;
      case 'conference.connectionError.notAllowed':
        this.emit('failed', 'notAllowed');
        void this.close();
        return;
      case 'conference.videobridgeNotAvailable':
        // Stay in the room: the focus invites us again once a bridge is
        // back, and leaving would only hide the real cause behind
        // "connection lost".
        this.emit('notice', 'bridgeDown');
        return;
      default:
        // Focus left, ICE failed, connection errors: start over.
        this.reconnect();
    }
  }

  /** Retries joining with a password (after passwordRequired). */
  submitPassword(password: string): void {
    this.password = password;
    this.conference?.join(password);
  }

  // ---- reconnection ----------------------------------------------------------

  private reconnect(): void {
    if (this.closed) return;
    const delay = backoff(++this.attempts);
    this.emit('notice', 'connectionLost', delay);
    this.emit('status', 'reconnecting', delay);
    this.teardown();
    this.emit('reset');
    this.later(() => this.connect(), delay * 1000);
  }

  private teardown(): void {
    this.clearTimers();
    this.stopWatchingFocus?.();
    this.stopWatchingFocus = null;
    const conf = this.conference;
    const conn = this.connection;
    this.conference = null;
    this.connection = null;
    // Local tracks survive a reconnection: take them out of the old
    // conference before it goes so leave() does not dispose them.
    // Leave the room (so the others see us go at once) before the
    // connection closes, but never wait long for a server that is gone.
    void (async () => {
      if (conf) {
        for (const m of this.local) void conf.removeTrack(m.track).catch(() => undefined);
        await Promise.race([conf.leave().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
      }
      if (conn) await conn.disconnect().catch(() => undefined);
    })();
  }

  private later(fn: () => void, ms: number): void {
    const id = window.setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, ms);
    this.timers.add(id);
  }

  private clearTimers(): void {
    for (const id of this.timers) clearTimeout(id);
    this.timers.clear();
  }

  /** Leaves for good and releases camera and microphone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const media = [...this.local, ...(this.cameraBeforeShare ? [this.cameraBeforeShare] : [])];
    this.local = [];
    this.cameraBeforeShare = null;
    this.teardown();
    // Releasing a track can wait on the conference it was in; the camera
    // light must go off even if that never answers.
    await Promise.race([Promise.all(media.map((m) => m.dispose())), new Promise((r) => setTimeout(r, 2000))]);
    this.emit('left');
  }

  // ---- participants ------------------------------------------------------------

  private info(p: LjmParticipant): ParticipantInfo {
    const tracks = p.getTracks();
    const muted = (kind: 'audio' | 'video') => {
      const t = tracks.find((x) => x.getType() === kind);
      return t ? t.isMuted() : true;
    };
    const hand = p.getProperty(RAISED_HAND);
    return {
      id: p.getId(),
      name: p.getDisplayName() ?? '',
      moderator: p.getRole() === 'moderator',
      raisedHand: typeof hand === 'string' ? hand !== '' && hand !== 'false' : Boolean(hand),
      audioMuted: muted('audio'),
      videoMuted: muted('video'),
    };
  }

  private changed(id: string): void {
    const p = this.conference?.getParticipantById(id);
    if (p) this.emit('participantChanged', this.info(p));
  }

  localInfo(): ParticipantInfo {
    const audio = this.localTrack('audio');
    const video = this.localTrack('video');
    return {
      id: this.conference?.myUserId() ?? 'local',
      name: this.displayName,
      moderator: this.moderator,
      raisedHand: this.raisedHand,
      audioMuted: !audio || audio.muted,
      videoMuted: !video || video.muted,
    };
  }

  get isModerator(): boolean {
    return this.moderator;
  }

  // ---- local media -------------------------------------------------------------

  localTrack(kind: 'audio' | 'video'): LocalMedia | undefined {
    return this.local.find((m) => m.kind === kind);
  }

  get screenSharing(): boolean {
    return Boolean(this.localTrack('video')?.isScreen);
  }

  /** Mutes or unmutes; unmuting a kind we have no track for asks for the device first. */
  async setMuted(kind: 'audio' | 'video', muted: boolean): Promise<void> {
    let m = this.localTrack(kind);
    if (!m) {
      if (muted) return;
      const [created] = await createLocalMedia({ audio: kind === 'audio', video: kind === 'video' });
      if (!created) return;
      m = created;
      this.local.push(m);
      if (this.conference) await this.conference.addTrack(m.track);
    } else if (muted) {
      await m.track.mute();
    } else {
      await m.track.unmute();
    }
    this.emit('localChanged', this.localInfo());
    this.emit('localTracksChanged');
  }

  /** Replaces the camera or microphone with another device. */
  async switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    const old = this.localTrack(kind);
    if (old?.isScreen) return;
    const [fresh] = await createLocalMedia(kind === 'audio' ? { audio: true, video: false, micId: deviceId } : { audio: false, video: true, cameraId: deviceId });
    if (!fresh) return;
    if (this.conference) await this.conference.replaceTrack(old?.track ?? null, fresh.track);
    if (old) {
      if (old.muted) await fresh.track.mute();
      this.local = this.local.filter((m) => m !== old);
      await old.dispose();
    }
    this.local.push(fresh);
    this.emit('localTracksChanged');
    this.emit('localChanged', this.localInfo());
  }

  /** Starts sharing the screen in place of the camera. Rejects like createLocalMedia. */
  async startScreenShare(): Promise<void> {
    if (this.screenSharing || !this.api) return;
    const tracks = await this.api.createLocalTracks({ devices: ['desktop'] });
    // A shared tab can come with its audio as a second track; only the
    // picture replaces the camera.
    const desktop = tracks.find((t) => t.getType() === 'video');
    for (const t of tracks) if (t !== desktop) void t.dispose().catch(() => undefined);
    if (!desktop) return;
    const screen = new LocalMedia(desktop);
    const camera = this.localTrack('video') ?? null;
    if (this.conference) await this.conference.replaceTrack(camera?.track ?? null, screen.track);
    this.cameraBeforeShare = camera;
    this.local = this.local.filter((m) => m !== camera);
    this.local.push(screen);
    screen.onEnded(() => void this.stopScreenShare());
    this.emit('localTracksChanged');
    this.emit('localChanged', this.localInfo());
  }

  async stopScreenShare(): Promise<void> {
    const screen = this.localTrack('video');
    if (!screen?.isScreen) return;
    const camera = this.cameraBeforeShare;
    this.cameraBeforeShare = null;
    if (this.conference) await this.conference.replaceTrack(screen.track, camera?.track ?? null).catch(() => undefined);
    this.local = this.local.filter((m) => m !== screen);
    if (camera) this.local.push(camera);
    await screen.dispose();
    this.emit('localTracksChanged');
    this.emit('localChanged', this.localInfo());
  }

  // ---- the rest of the toolbar -------------------------------------------------

  setDisplayName(name: string): void {
    this.displayName = name;
    this.conference?.setDisplayName(name);
    this.emit('localChanged', this.localInfo());
  }

  setRaisedHand(raised: boolean): void {
    this.raisedHand = raised;
    // An empty value lowers the hand; a timestamp orders raised hands.
    this.conference?.setLocalParticipantProperty(RAISED_HAND, raised ? String(Date.now()) : '');
    this.emit('localChanged', this.localInfo());
  }

  sendMessage(text: string): void {
    this.conference?.sendTextMessage(text);
  }

  lock(password: string): Promise<void> {
    if (!this.conference) return Promise.reject(new Error('not joined'));
    this.password = password;
    return this.conference.lock(password);
  }

  unlock(): Promise<void> {
    if (!this.conference) return Promise.reject(new Error('not joined'));
    this.password = undefined;
    return this.conference.unlock();
  }

  /**
   * Tells the bridge which video matters (protocol notes §6.2,
   * ReceiverVideoConstraints): in stage view the participant on stage in
   * HD and the filmstrip small; in tile view everyone at a medium size.
   * Without this the library's default asks for thumbnails only.
   */
  setReceiverView(onStage: string | null, tileView: boolean): void {
    this.view = { onStage, tileView };
    this.sendReceiverView();
  }

  private view: { onStage: string | null; tileView: boolean } = { onStage: null, tileView: false };

  private sendReceiverView(): void {
    const conf = this.conference;
    if (!conf?.setReceiverConstraints) return;
    const { onStage, tileView } = this.view;
    const lastN = this.cfg.channelLastN ?? -1;
    try {
      if (tileView || !onStage) {
        conf.setReceiverConstraints({ lastN, selectedEndpoints: [], onStageEndpoints: [], defaultConstraints: { maxHeight: 360 }, constraints: {} });
      } else {
        conf.setReceiverConstraints({
          lastN,
          selectedEndpoints: [],
          onStageEndpoints: [onStage],
          defaultConstraints: { maxHeight: 180 },
          constraints: { [onStage]: { maxHeight: 720 } },
        });
      }
    } catch (e) {
      console.warn('setReceiverConstraints failed', e);
    }
  }

  // ---- moderator actions -------------------------------------------------------

  kick(id: string): void {
    this.conference?.kickParticipant(id);
  }

  muteRemote(id: string, kind: 'audio' | 'video' = 'audio'): void {
    this.conference?.muteParticipant(id, kind);
  }

  grantModerator(id: string): void {
    this.conference?.grantOwner(id);
  }
}
