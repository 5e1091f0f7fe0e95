// The conference page: pre-join, then tiles, toolbar, chat and dialogs wired
// to a Meeting. This is the only view that holds a Meeting; the IFrame API
// bridge (if any) drives it through the same actions as the toolbar.
import type { ApiBridge } from '../../api/iframe-bridge';
import type { MeetConfig } from '../../config';
import { Meeting, mediaErrorKind, type FailReason, type MeetingStatus, type Notice, type ParticipantInfo } from '../../conference/jitsi';
import { h, replace } from '../../dom';
import { langEvents, t, type MessageKey } from '../../i18n';
import { addRecent } from '../../recent';
import { roomPath } from '../../room-name';
import { save } from '../../storage';
import { openDialog, promptDialog, type DialogHandle } from '../dialog';
import { Notices } from '../notices';
import { mediaErrorKey, prejoin } from '../prejoin';
import { Chat } from './chat';
import { openInfo } from './info';
import { participantMenu } from './participant-menu';
import { openSettings } from './settings';
import { Tiles } from './tiles';
import { Toolbar, type ToolbarAction } from './toolbar';

const STATUS_TEXT: Record<Exclude<MeetingStatus, 'joined'>, MessageKey> = {
  connecting: 'status.connecting',
  waitingForFocus: 'status.waitingForFocus',
  waitingForHost: 'status.waitingForHost',
  joining: 'status.joining',
  reconnecting: 'status.reconnecting',
};

const FAIL_TEXT: Record<FailReason, MessageKey> = {
  kicked: 'errors.kicked',
  roomLocked: 'errors.roomLocked',
  maxUsers: 'errors.maxUsers',
  destroyed: 'errors.destroyed',
  notAllowed: 'errors.notAllowed',
};

export interface ConferenceOptions {
  cfg: MeetConfig;
  room: string;
  title: string;
  displayName?: string;
  /** Join without the pre-join screen (an embedding page's configOverwrite.prejoinPageEnabled=false). */
  skipPrejoin: boolean;
  api: ApiBridge | null;
}

export async function runConference(root: HTMLElement, opts: ConferenceOptions): Promise<void> {
  const { cfg, room, title, api } = opts;
  document.title = `${title} · ${t('app.name')}`;
  const choice = await prejoin(root, {
    title,
    displayName: opts.displayName,
    requireDisplayName: Boolean(cfg.requireDisplayName),
    startAudioMuted: Boolean(cfg.startWithAudioMuted),
    startVideoMuted: Boolean(cfg.startWithVideoMuted),
    skip: opts.skipPrejoin,
  });
  addRecent(room, title);

  const meeting = new Meeting(cfg, room);
  const notices = new Notices();
  const tiles = new Tiles();
  const chat = new Chat((text) => meeting.sendMessage(text));
  let tileView = false;
  let locked = false;
  let localId = 'local';
  let lastAudioMuted: boolean | null = null;
  let loginDialog: DialogHandle | null = null;
  let mediaInterrupted = false;
  let othersSeen = false;
  let ended = false;

  const toolbar = new Toolbar((action) => void onAction(action));
  tiles.menuFor = (info: ParticipantInfo) => participantMenu(meeting, info);
  tiles.onLayout = (onStage, tv) => meeting.setReceiverView(onStage, tv);
  chat.onUnreadChange = (unread) => toolbar.update({ unread });

  const syncLocal = () => {
    const info = meeting.localInfo();
    tiles.upsert({ ...info, id: localId }, true);
    tiles.setMedia(localId, meeting.localTrack('video') ?? null, 'video');
    toolbar.update({
      audioMuted: info.audioMuted,
      videoMuted: info.videoMuted,
      screenSharing: meeting.screenSharing,
      handRaised: info.raisedHand,
    });
    if (api && lastAudioMuted !== info.audioMuted) api.emit('audioMuteStatusChanged', { muted: info.audioMuted });
    lastAudioMuted = info.audioMuted;
  };

  const end = (text: string, canRejoin: boolean) => {
    if (ended) return;
    ended = true;
    loginDialog?.close();
    api?.emit('videoConferenceLeft', { roomName: room });
    api?.emit('readyToClose');
    replace(
      root,
      h(
        'main',
        { class: 'end-page', 'data-testid': 'end-page' },
        h('h1', { 'data-testid': 'end-message' }, text),
        h(
          'div',
          { class: 'row' },
          canRejoin && h('a', { class: 'btn primary', href: roomPath(room), 'data-testid': 'rejoin' }, t('end.rejoin')),
          h('a', { class: 'btn', href: '/', 'data-testid': 'home' }, t('end.home')),
        ),
      ),
    );
  };

  const hangup = async () => {
    end(t('end.left'), true);
    await meeting.close();
  };

  async function onAction(action: ToolbarAction): Promise<void> {
    try {
      switch (action) {
        case 'screen':
          if (meeting.screenSharing) await meeting.stopScreenShare();
          else await meeting.startScreenShare();
          break;
        case 'hand':
          meeting.setRaisedHand(!meeting.localInfo().raisedHand);
          break;
        case 'chat':
          chat.toggle();
          toolbar.update({ chatOpen: chat.open });
          break;
        case 'mic':
          await meeting.setMuted('audio', !meeting.localInfo().audioMuted);
          break;
        case 'camera':
          await meeting.setMuted('video', !meeting.localInfo().videoMuted);
          break;
        case 'hangup':
          await hangup();
          break;
        case 'tiles':
          tileView = !tileView;
          tiles.setTileView(tileView);
          toolbar.update({ tileView });
          break;
        case 'info':
          openInfo(meeting, locked, (l) => (locked = l));
          break;
        case 'more':
          openSettings(meeting);
          break;
      }
    } catch (e) {
      console.warn(`${action} failed`, e);
      const kind = mediaErrorKind(e);
      if (kind !== 'canceled') notices.show('media', t(mediaErrorKey(kind)), { error: true });
    }
  }

  // ---- meeting events --------------------------------------------------------

  meeting.on('status', (status, delay) => {
    if (status === 'joined') notices.hide('status');
    else if (status === 'waitingForHost' && loginDismissed) return;
    else notices.show('status', t(STATUS_TEXT[status], { seconds: delay ?? 0 }), { sticky: true });
  });
  meeting.on('joined', (info) => {
    loginDialog?.close();
    const old = localId;
    localId = info.id;
    tiles.rename(old, info);
    syncLocal();
    api?.emit('videoConferenceJoined', { roomName: room, id: info.id, displayName: info.name });
  });
  meeting.on('localChanged', () => {
    syncLocal();
    tiles.redrawAll();
  });
  meeting.on('localTracksChanged', syncLocal);
  meeting.on('participantJoined', (p) => {
    othersSeen = true;
    tiles.upsert(p);
    api?.emit('participantJoined', { id: p.id, displayName: p.name });
  });
  meeting.on('participantChanged', (p) => tiles.upsert(p));
  meeting.on('participantLeft', (id) => {
    tiles.remove(id);
    api?.emit('participantLeft', { id });
  });
  meeting.on('trackAdded', (m) => {
    if (!tiles.ids.includes(m.participantId)) {
      tiles.upsert({ id: m.participantId, name: '', moderator: false, raisedHand: false, audioMuted: true, videoMuted: true });
    }
    tiles.setMedia(m.participantId, m, m.kind);
  });
  meeting.on('trackRemoved', (m) => {
    if (tiles.mediaOf(m.participantId, m.kind) && (tiles.mediaOf(m.participantId, m.kind) as { id?: string }).id === m.id) {
      tiles.setMedia(m.participantId, null, m.kind);
    }
  });
  meeting.on('trackMuteChanged', (m) => tiles.setMedia(m.participantId, tiles.mediaOf(m.participantId, m.kind), m.kind));
  meeting.on('dominantSpeaker', (id) => tiles.setDominant(id));
  meeting.on('message', (m) => chat.add(m));
  meeting.on('lockChanged', (l) => {
    locked = l;
    notices.show('lock', t(l ? 'notice.locked' : 'notice.unlocked'));
  });
  meeting.on('reset', () => tiles.clearRemote());
  meeting.on('notice', (kind: Notice, delay) => {
    // "Restored" only answers an "interrupted" the user saw (the library
    // also reports the first ICE connection as a restore); "you are now a
    // moderator" only matters when the role passed on from someone else,
    // not for whoever opens the room.
    if (kind === 'mediaInterrupted') mediaInterrupted = true;
    if (kind === 'mediaRestored' && !mediaInterrupted) return;
    if (kind === 'mediaRestored') mediaInterrupted = false;
    if (kind === 'becameModerator' && !othersSeen) return;
    if (kind === 'mediaConnected') {
      notices.hide('bridgeDown');
      return;
    }
    const text: Record<Exclude<Notice, 'mediaConnected'>, MessageKey> = {
      bridgeDown: 'notice.bridgeDown',
      focusUnavailable: 'notice.focusUnavailable',
      connectionLost: 'notice.connectionLost',
      mediaInterrupted: 'notice.mediaInterrupted',
      mediaRestored: 'notice.mediaRestored',
      mutedByModerator: 'notice.mutedByModerator',
      becameModerator: 'notice.becameModerator',
    };
    const error = kind === 'bridgeDown' || kind === 'focusUnavailable' || kind === 'connectionLost' || kind === 'mediaInterrupted';
    const id = kind === 'mediaRestored' ? 'mediaInterrupted' : kind;
    notices.show(id, t(text[kind], { seconds: delay ?? 0 }), { error, sticky: kind === 'bridgeDown' || kind === 'mediaInterrupted' });
    if (kind === 'mediaRestored' || kind === 'becameModerator') notices.hide('bridgeDown');
  });
  meeting.on('failed', (reason, actor) => {
    const text = reason === 'kicked' && actor ? t('errors.kickedBy', { name: actor }) : t(FAIL_TEXT[reason]);
    end(text, reason !== 'kicked');
  });
  meeting.on('passwordRequired', (wrong) => {
    void promptDialog({
      title: t('password.title'),
      message: t('password.message'),
      error: wrong ? t('password.wrong') : undefined,
      label: t('password.label'),
      type: 'password',
      submit: t('password.join'),
      testid: 'password-dialog',
    }).then((pwd) => {
      if (pwd === null) void meeting.close().then(() => end(t('errors.roomLocked'), true));
      else meeting.submitPassword(pwd);
    });
  });
  // The focus is asked again every few seconds while the host is away; the
  // login dialog opens once, and after the user closes it a Sign in button
  // in the waiting notice brings it back (instead of popping up each time).
  let loginDismissed = false;
  const showLogin = () => {
    if (loginDialog) return;
    loginDialog = openLogin(meeting, () => {
      loginDialog = null;
      loginDismissed = true;
      notices.show('status', t('status.waitingForHost'), { sticky: true, action: { label: t('login.submit'), run: showLogin } });
    });
  };
  meeting.on('authRequired', (canLogin) => {
    if (canLogin && !loginDismissed) showLogin();
  });

  // ---- IFrame API commands -------------------------------------------------------

  if (api) {
    api.handle('toggleAudio', () => void onAction('mic'));
    api.handle('toggleVideo', () => void onAction('camera'));
    api.handle('toggleChat', () => void onAction('chat'));
    api.handle('toggleTileView', () => void onAction('tiles'));
    api.handle('hangup', () => void hangup());
    api.handle('displayName', (name) => {
      if (typeof name !== 'string') return;
      meeting.setDisplayName(name);
      save('displayName', name);
    });
    api.handle('password', (pwd) => {
      if (typeof pwd !== 'string') return;
      if (meeting.isModerator) void (pwd ? meeting.lock(pwd) : meeting.unlock()).catch(() => undefined);
      else meeting.submitPassword(pwd);
    });
  }

  langEvents.on('change', () => {
    toolbar.draw();
    chat.draw();
    tiles.redrawAll();
  });
  window.addEventListener('pagehide', () => void meeting.close());

  replace(
    root,
    h(
      'div',
      { class: 'conference', 'data-testid': 'conference' },
      notices.el,
      h('div', { class: 'stage' }, tiles.el, chat.el),
      toolbar.el,
    ),
  );
  await meeting.start(choice.displayName, choice.media);
  if (choice.audioMuted) await meeting.setMuted('audio', true);
  syncLocal();
}

/** The secure-domain login dialog (shown while the focus requires authentication). */
function openLogin(meeting: Meeting, onClose: () => void): DialogHandle {
  const user = h('input', { type: 'text', class: 'text-input', autocomplete: 'username', 'aria-label': t('login.user'), 'data-testid': 'login-user' });
  const pass = h('input', { type: 'password', class: 'text-input', autocomplete: 'current-password', 'aria-label': t('login.password'), 'data-testid': 'login-password' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' });
  const submit = h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'login-submit' }, t('login.submit'));
  const dlg = openDialog({
    title: t('login.title'),
    testid: 'login-dialog',
    onClose,
    body: [
      h('p', null, t('login.message')),
      h(
        'form',
        {
          class: 'dialog-form',
          on: {
            submit: (e: Event) => {
              e.preventDefault();
              submit.disabled = true;
              replace(error);
              meeting
                .login(user.value.trim(), pass.value)
                .then(() => dlg.close())
                .catch((err: Error) => replace(error, t(err.message === 'badCredentials' ? 'login.bad' : 'login.failed')))
                .finally(() => (submit.disabled = false));
            },
          },
        },
        h('label', { class: 'field' }, h('span', null, t('login.user')), user),
        h('label', { class: 'field' }, h('span', null, t('login.password')), pass),
        submit,
      ),
      error,
      h('p', { class: 'muted' }, t('login.orWait')),
    ],
  });
  return dlg;
}
