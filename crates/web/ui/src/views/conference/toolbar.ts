// The toolbar, in the guide's order: Share screen, Raise hand, Chat,
// Microphone, Hang up, Camera, Tile view, Info, More.
import { h, replace } from '../../dom';
import { t, type MessageKey } from '../../i18n';
import { icon, type IconName } from '../icons';

export interface ToolbarState {
  audioMuted: boolean;
  videoMuted: boolean;
  screenSharing: boolean;
  handRaised: boolean;
  chatOpen: boolean;
  unread: number;
  tileView: boolean;
}

export type ToolbarAction = 'screen' | 'hand' | 'chat' | 'mic' | 'hangup' | 'camera' | 'tiles' | 'info' | 'more';

interface ButtonSpec {
  action: ToolbarAction;
  icon: IconName;
  label: (s: ToolbarState) => MessageKey;
  off?: (s: ToolbarState) => boolean;
  active?: (s: ToolbarState) => boolean;
}

const BUTTONS: ButtonSpec[] = [
  { action: 'screen', icon: 'screen', label: (s) => (s.screenSharing ? 'toolbar.stopShare' : 'toolbar.share'), active: (s) => s.screenSharing },
  { action: 'hand', icon: 'hand', label: (s) => (s.handRaised ? 'toolbar.lowerHand' : 'toolbar.raiseHand'), active: (s) => s.handRaised },
  { action: 'chat', icon: 'chat', label: () => 'toolbar.chat', active: (s) => s.chatOpen },
  { action: 'mic', icon: 'mic', label: (s) => (s.audioMuted ? 'toolbar.unmute' : 'toolbar.mute'), off: (s) => s.audioMuted },
  { action: 'hangup', icon: 'hangup', label: () => 'toolbar.hangup' },
  { action: 'camera', icon: 'camera', label: (s) => (s.videoMuted ? 'toolbar.cameraOn' : 'toolbar.cameraOff'), off: (s) => s.videoMuted },
  { action: 'tiles', icon: 'tiles', label: (s) => (s.tileView ? 'toolbar.tileViewOff' : 'toolbar.tileViewOn'), active: (s) => s.tileView },
  { action: 'info', icon: 'info', label: () => 'toolbar.info' },
  { action: 'more', icon: 'more', label: () => 'toolbar.more' },
];

export class Toolbar {
  readonly el = h('nav', { class: 'toolbar', 'aria-label': 'toolbar', 'data-testid': 'toolbar' });
  private state: ToolbarState = {
    audioMuted: false,
    videoMuted: false,
    screenSharing: false,
    handRaised: false,
    chatOpen: false,
    unread: 0,
    tileView: false,
  };

  constructor(private onAction: (a: ToolbarAction) => void) {
    this.draw();
  }

  update(patch: Partial<ToolbarState>): void {
    this.state = { ...this.state, ...patch };
    this.draw();
  }

  draw(): void {
    const s = this.state;
    this.el.setAttribute('aria-label', t('toolbar.label'));
    replace(
      this.el,
      BUTTONS.map((b) => {
        const label = t(b.label(s));
        const classes = ['tool', b.action === 'hangup' ? 'danger' : '', b.active?.(s) ? 'active' : '', b.off?.(s) ? 'off' : ''];
        return h(
          'button',
          {
            type: 'button',
            class: classes.filter(Boolean).join(' '),
            title: label,
            'aria-label': label,
            'aria-pressed': b.active ? String(Boolean(b.active(s))) : null,
            'data-testid': `tool-${b.action}`,
            on: { click: () => this.onAction(b.action) },
          },
          icon(b.icon, b.off?.(s) ?? false),
          h('span', { class: 'tool-label' }, label),
          b.action === 'chat' && s.unread > 0 && h('span', { class: 'unread', 'data-testid': 'chat-unread' }, String(s.unread)),
        );
      }),
    );
  }
}
