// The pre-join screen: asks for camera and microphone, shows the local
// preview, takes the display name (remembered) and whether to start with the
// microphone or camera off.
import { createLocalMedia, loadMediaLibrary, mediaErrorKind, type LocalMedia, type MediaError } from '../conference/jitsi';
import { h, replace } from '../dom';
import { langEvents, t, type MessageKey } from '../i18n';
import { load, save } from '../storage';
import { header } from './header';

export interface JoinChoice {
  displayName: string;
  media: LocalMedia[];
  audioMuted: boolean;
}

export interface PrejoinOptions {
  title: string;
  displayName?: string;
  requireDisplayName: boolean;
  startAudioMuted: boolean;
  startVideoMuted: boolean;
  /** Skip the screen (config.prejoinPageEnabled === false): join as soon as media is ready. */
  skip: boolean;
}

export function mediaErrorKey(kind: MediaError): MessageKey {
  switch (kind) {
    case 'denied':
      return 'errors.mediaDenied';
    case 'notFound':
      return 'errors.mediaNotFound';
    case 'canceled':
      return 'errors.screenCanceled';
    default:
      return 'errors.mediaOther';
  }
}

export function prejoin(root: HTMLElement, opts: PrejoinOptions): Promise<JoinChoice> {
  const prefs = load<{ audioOff?: boolean; videoOff?: boolean }>('startMuted', {});
  let audioOff = opts.startAudioMuted || Boolean(prefs.audioOff);
  let videoOff = opts.startVideoMuted || Boolean(prefs.videoOff);
  let media: LocalMedia[] = [];
  // Join stays disabled until the first request for camera and microphone
  // is answered, so nobody joins without the devices they just allowed.
  let busy = true;
  let pending: Promise<void> = Promise.resolve();

  const video = h('video', { class: 'preview-video mirror', autoplay: true, muted: true, playsinline: true, 'data-testid': 'preview-video', props: { muted: true } });
  const status = h('p', { class: 'prejoin-status', role: 'status', 'data-testid': 'prejoin-status' });
  let statusKey: MessageKey | null = 'prejoin.loading';
  const setStatus = (key: MessageKey | null, error = false) => {
    statusKey = key;
    replace(status, key ? t(key) : '');
    status.classList.toggle('error', error);
  };
  setStatus('prejoin.loading');
  const nameInput = h('input', {
    class: 'name-input',
    type: 'text',
    maxlength: 64,
    autocomplete: 'nickname',
    placeholder: t('prejoin.namePlaceholder'),
    'aria-label': t('prejoin.nameLabel'),
    'data-testid': 'display-name',
    props: { value: opts.displayName ?? load<string>('displayName', '') },
  });
  const micBtn = h('button', { type: 'button', class: 'btn toggle', 'data-testid': 'prejoin-mic' });
  const camBtn = h('button', { type: 'button', class: 'btn toggle', 'data-testid': 'prejoin-camera' });
  const joinBtn = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'join' }, t('prejoin.join'));

  const refresh = () => {
    replace(micBtn, t(audioOff ? 'prejoin.micOff' : 'prejoin.micOn'));
    micBtn.setAttribute('aria-pressed', String(!audioOff));
    replace(camBtn, t(videoOff ? 'prejoin.cameraOff' : 'prejoin.cameraOn'));
    camBtn.setAttribute('aria-pressed', String(!videoOff));
    joinBtn.disabled = busy || (opts.requireDisplayName && nameInput.value.trim() === '');
    video.hidden = videoOff || !media.some((m) => m.kind === 'video');
  };

  const acquire = (audio: boolean, videoWanted: boolean): Promise<void> => (pending = pending.then(() => doAcquire(audio, videoWanted)));
  const doAcquire = async (audio: boolean, videoWanted: boolean) => {
    if (!audio && !videoWanted) {
      busy = false;
      refresh();
      return;
    }
    busy = true;
    refresh();
    setStatus('prejoin.requesting');
    try {
      const got = await createLocalMedia({ audio, video: videoWanted });
      media.push(...got);
      const v = got.find((m) => m.kind === 'video');
      if (v) v.attach(video);
      setStatus(null);
    } catch (e) {
      setStatus(mediaErrorKey(mediaErrorKind(e)), true);
    } finally {
      busy = false;
      refresh();
    }
  };

  const dropVideo = async () => {
    const v = media.find((m) => m.kind === 'video');
    if (!v) return;
    v.detach(video);
    media = media.filter((m) => m !== v);
    await v.dispose();
  };

  micBtn.addEventListener('click', () => {
    audioOff = !audioOff;
    save('startMuted', { audioOff, videoOff });
    if (!audioOff && !media.some((m) => m.kind === 'audio')) void acquire(true, false);
    refresh();
  });
  camBtn.addEventListener('click', () => {
    videoOff = !videoOff;
    save('startMuted', { audioOff, videoOff });
    // The camera light goes off when the camera is off, not just the picture.
    if (videoOff) void dropVideo();
    else void acquire(false, true);
    refresh();
  });
  nameInput.addEventListener('input', refresh);

  return new Promise((resolve) => {
    let stopLang = () => {};
    const finish = () => {
      stopLang();
      const displayName = nameInput.value.trim();
      save('displayName', displayName);
      joinBtn.disabled = true;
      // A camera switched on just before Join is still on its way.
      void pending.then(() => resolve({ displayName, media, audioMuted: audioOff }));
    };
    const draw = () => {
    nameInput.placeholder = t('prejoin.namePlaceholder');
    nameInput.setAttribute('aria-label', t('prejoin.nameLabel'));
    replace(joinBtn, t('prejoin.join'));
    if (statusKey) replace(status, t(statusKey));
    const form = h(
      'form',
      {
        class: 'prejoin',
        'data-testid': 'prejoin',
        on: {
          submit: (e: Event) => {
            e.preventDefault();
            if (!joinBtn.disabled) finish();
          },
        },
      },
      h('h1', null, opts.title),
      h('div', { class: 'preview' }, video, h('div', { class: 'preview-off' }, t('prejoin.previewOff'))),
      status,
      h('label', { class: 'field' }, h('span', null, t('prejoin.nameLabel')), nameInput),
      h('div', { class: 'prejoin-toggles' }, micBtn, camBtn),
      joinBtn,
    );
    replace(root, header(), h('main', { class: 'prejoin-page' }, form));
    refresh();
    };
    draw();
    stopLang = langEvents.on('change', draw);
    void (async () => {
      try {
        await loadMediaLibrary();
      } catch {
        // Joining is impossible without the library: Join stays disabled.
        setStatus('errors.libraryLoad', true);
        return;
      }
      // One permission prompt for both devices, even when one starts muted:
      // the microphone track is muted after joining rather than not created.
      await acquire(true, !videoOff);
      if (opts.skip && !(opts.requireDisplayName && !nameInput.value.trim())) finish();
    })();
  });
}
