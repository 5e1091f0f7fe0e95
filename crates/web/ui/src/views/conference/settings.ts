// The More dialog: display name, camera and microphone, language.
import { listDevices, mediaErrorKind, type Meeting } from '../../conference/jitsi';
import { h, replace } from '../../dom';
import { t } from '../../i18n';
import { save } from '../../storage';
import { openDialog } from '../dialog';
import { languageSelect } from '../header';
import { mediaErrorKey } from '../prejoin';

export function openSettings(meeting: Meeting): void {
  const error = h('p', { class: 'error', role: 'alert' });
  const name = h('input', { type: 'text', class: 'text-input', maxlength: 64, 'aria-label': t('settings.name'), 'data-testid': 'settings-name', props: { value: meeting.localInfo().name } });
  const camera = h('select', { 'aria-label': t('settings.camera'), 'data-testid': 'settings-camera' });
  const mic = h('select', { 'aria-label': t('settings.microphone'), 'data-testid': 'settings-mic' });

  void listDevices().then((devices) => {
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, current: string | undefined) => {
      const list = devices.filter((d) => d.kind === kind);
      replace(
        select,
        list.length === 0
          ? h('option', { value: '' }, t('settings.noDevices'))
          : list.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || t('settings.device', { n: i + 1 }))),
      );
    };
    fill(camera, 'videoinput', meeting.localTrack('video')?.deviceId);
    fill(mic, 'audioinput', meeting.localTrack('audio')?.deviceId);
  });

  const switchTo = (kind: 'audio' | 'video', id: string) => {
    if (!id) return;
    replace(error);
    meeting.switchDevice(kind, id).catch((e) => replace(error, t(mediaErrorKey(mediaErrorKind(e)))));
  };
  camera.addEventListener('change', () => switchTo('video', camera.value));
  mic.addEventListener('change', () => switchTo('audio', mic.value));

  const dlg = openDialog({
    title: t('settings.title'),
    testid: 'settings-dialog',
    body: [
      h(
        'form',
        {
          class: 'dialog-form',
          on: {
            submit: (e: Event) => {
              e.preventDefault();
              const value = name.value.trim();
              meeting.setDisplayName(value);
              save('displayName', value);
              dlg.close();
            },
          },
        },
        h('label', { class: 'field' }, h('span', null, t('settings.name')), name),
        h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'settings-save' }, t('settings.save')),
      ),
      h('label', { class: 'field' }, h('span', null, t('settings.camera')), camera),
      h('label', { class: 'field' }, h('span', null, t('settings.microphone')), mic),
      h('label', { class: 'field' }, h('span', null, t('lang.choose')), languageSelect()),
      error,
    ],
  });
}
