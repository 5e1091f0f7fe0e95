// Notices at the top of the conference: short-lived ones fade, sticky ones
// stay until replaced under the same id or dismissed.
import { h } from '../dom';
import { t } from '../i18n';

export class Notices {
  readonly el = h('div', { class: 'notices', role: 'status', 'aria-live': 'polite', 'data-testid': 'notices' });
  private byId = new Map<string, HTMLElement>();

  show(id: string, text: string, opts: { sticky?: boolean; error?: boolean; ms?: number; action?: { label: string; run: () => void } } = {}): void {
    this.hide(id);
    const el = h(
      'div',
      { class: opts.error ? 'notice error' : 'notice', 'data-notice': id },
      h('span', null, text),
      opts.action && h('button', { class: 'btn small', type: 'button', 'data-testid': `notice-${id}-action`, on: { click: opts.action.run } }, opts.action.label),
      h('button', { class: 'btn icon', type: 'button', 'aria-label': t('common.close'), on: { click: () => this.hide(id) } }, '×'),
    );
    this.byId.set(id, el);
    this.el.appendChild(el);
    if (!opts.sticky) {
      window.setTimeout(() => {
        if (this.byId.get(id) === el) this.hide(id);
      }, opts.ms ?? 6000);
    }
  }

  hide(id: string): void {
    this.byId.get(id)?.remove();
    this.byId.delete(id);
  }
}
