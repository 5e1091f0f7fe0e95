// The moderator's menu on a participant's tile: mute, kick, make moderator.
import type { Meeting, ParticipantInfo } from '../../conference/jitsi';
import { h } from '../../dom';
import { t } from '../../i18n';
import { icon } from '../icons';

export function participantMenu(meeting: Meeting, info: ParticipantInfo): HTMLElement | null {
  if (!meeting.isModerator) return null;
  const menu = h(
    'div',
    { class: 'menu', role: 'menu', hidden: true },
    !info.audioMuted &&
      h('button', { type: 'button', role: 'menuitem', 'data-testid': 'action-mute', on: { click: () => act(() => meeting.muteRemote(info.id, 'audio')) } }, t('participant.mute')),
    h('button', { type: 'button', role: 'menuitem', 'data-testid': 'action-kick', on: { click: () => act(() => meeting.kick(info.id)) } }, t('participant.kick')),
    !info.moderator &&
      h('button', { type: 'button', role: 'menuitem', 'data-testid': 'action-grant', on: { click: () => act(() => meeting.grantModerator(info.id)) } }, t('participant.grantModerator')),
  );
  const act = (fn: () => void) => {
    menu.hidden = true;
    fn();
  };
  const button = h(
    'button',
    {
      type: 'button',
      class: 'btn icon tile-menu-button',
      'aria-haspopup': 'menu',
      'aria-label': t('participant.actions', { name: info.name || t('conference.anonymous') }),
      title: t('participant.actionsShort'),
      'data-testid': 'participant-actions',
      on: { click: () => { menu.hidden = !menu.hidden; } },
    },
    icon('more'),
  );
  return h('div', { class: 'tile-menu' }, button, menu);
}
