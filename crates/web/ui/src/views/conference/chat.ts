// The chat panel: messages as text nodes (never markup), an input, and an
// unread counter while the panel is closed.
import type { ChatMessage } from '../../conference/jitsi';
import { h, replace } from '../../dom';
import { lang, t } from '../../i18n';

export class Chat {
  readonly el = h('aside', { class: 'chat', hidden: true, 'data-testid': 'chat-panel' });
  private list = h('ol', { class: 'chat-list', 'data-testid': 'chat-list' });
  private input = h('textarea', { class: 'chat-input', rows: 2, maxlength: 2000, 'data-testid': 'chat-input' });
  private messages: ChatMessage[] = [];
  unread = 0;
  onUnreadChange: (n: number) => void = () => {};

  constructor(private send: (text: string) => void) {
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.submit();
      }
    });
    this.draw();
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  toggle(open = !this.open): void {
    this.el.hidden = !open;
    if (open) {
      this.unread = 0;
      this.onUnreadChange(0);
      this.input.focus();
      this.list.scrollTop = this.list.scrollHeight;
    }
  }

  add(m: ChatMessage): void {
    this.messages.push(m);
    this.list.appendChild(this.item(m));
    this.list.scrollTop = this.list.scrollHeight;
    if (!this.open && !m.local) {
      this.unread += 1;
      this.onUnreadChange(this.unread);
    }
  }

  /** Re-renders the labels after a language change. */
  draw(): void {
    this.input.placeholder = t('chat.placeholder');
    this.input.setAttribute('aria-label', t('chat.placeholder'));
    replace(this.list, this.messages.map((m) => this.item(m)));
    replace(
      this.el,
      h('div', { class: 'panel-head' }, h('h2', null, t('chat.title')), h('button', { class: 'btn icon', type: 'button', 'aria-label': t('common.close'), on: { click: () => this.toggle(false) } }, '×')),
      this.list,
      h(
        'form',
        { class: 'chat-form', on: { submit: (e: Event) => { e.preventDefault(); this.submit(); } } },
        this.input,
        h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'chat-send' }, t('chat.send')),
      ),
    );
  }

  private item(m: ChatMessage): HTMLElement {
    const time = new Intl.DateTimeFormat(lang(), { hour: '2-digit', minute: '2-digit' }).format(new Date(m.at));
    return h(
      'li',
      { class: m.local ? 'msg mine' : 'msg', 'data-testid': 'chat-message' },
      h('div', { class: 'msg-meta' }, h('span', { class: 'msg-name' }, m.local ? t('chat.me') : m.name || t('conference.anonymous')), h('time', null, time)),
      h('div', { class: 'msg-text' }, m.text),
    );
  }

  private submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.send(text);
    this.input.value = '';
  }
}
