// The Info dialog: the meeting link, and for the moderator the room password
// (set or remove).
import type { Meeting } from '../../conference/jitsi';
import { h, replace } from '../../dom';
import { t } from '../../i18n';
import { openDialog } from '../dialog';

export function openInfo(meeting: Meeting, locked: boolean, onLockChange: (locked: boolean) => void): void {
  const link = location.origin + location.pathname;
  const copied = h('span', { class: 'muted', role: 'status' });
  const status = h('p', { class: 'lock-status', 'data-testid': 'lock-status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const section = h('div', { class: 'lock-section' });

  const draw = () => {
    replace(status, t(locked ? 'info.locked' : 'info.unlocked'));
    replace(error);
    if (!meeting.isModerator) {
      replace(section, h('p', { class: 'muted' }, t('info.onlyModerator')));
      return;
    }
    if (locked) {
      replace(
        section,
        h(
          'button',
          {
            class: 'btn',
            type: 'button',
            'data-testid': 'remove-password',
            on: {
              click: () => {
                meeting
                  .unlock()
                  .then(() => {
                    locked = false;
                    onLockChange(false);
                    draw();
                  })
                  .catch(() => replace(error, t('info.lockFailed')));
              },
            },
          },
          t('info.removePassword'),
        ),
      );
      return;
    }
    const input = h('input', { type: 'text', class: 'text-input', maxlength: 64, autocomplete: 'off', 'aria-label': t('info.passwordLabel'), 'data-testid': 'password-input' });
    replace(
      section,
      h(
        'form',
        {
          class: 'dialog-form',
          on: {
            submit: (e: Event) => {
              e.preventDefault();
              const pwd = input.value.trim();
              if (!pwd) return;
              meeting
                .lock(pwd)
                .then(() => {
                  locked = true;
                  onLockChange(true);
                  draw();
                })
                .catch(() => replace(error, t('info.lockFailed')));
            },
          },
        },
        h('label', { class: 'field' }, h('span', null, t('info.passwordLabel')), input),
        h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'set-password' }, t('info.setPassword')),
      ),
    );
  };
  draw();

  openDialog({
    title: t('info.title'),
    testid: 'info-dialog',
    body: [
      h('label', { class: 'field' }, h('span', null, t('info.link')), h('input', { class: 'text-input', readonly: true, 'data-testid': 'meeting-link', props: { value: link } })),
      h(
        'div',
        { class: 'row' },
        h(
          'button',
          {
            class: 'btn',
            type: 'button',
            on: {
              click: () => {
                void navigator.clipboard
                  ?.writeText(link)
                  .then(() => replace(copied, t('info.copied')))
                  .catch(() => replace(copied, t('info.copyFailed')));
              },
            },
          },
          t('info.copy'),
        ),
        copied,
      ),
      status,
      section,
      error,
    ],
  });
}
