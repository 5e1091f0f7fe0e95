// A modal dialog: a title, content, buttons; Escape or the close button
// dismisses it unless it is mandatory.
import { h, type Child } from '../dom';
import { t } from '../i18n';

export interface DialogHandle {
  el: HTMLElement;
  close(): void;
}

export function openDialog(opts: {
  title: string;
  body: Child[];
  testid: string;
  onClose?: () => void;
  mandatory?: boolean;
}): DialogHandle {
  const previous = document.activeElement as HTMLElement | null;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    overlay.remove();
    document.removeEventListener('keydown', onKey);
    previous?.focus?.();
    opts.onClose?.();
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !opts.mandatory) close();
  };
  const box = h(
    'div',
    { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-label': opts.title, 'data-testid': opts.testid },
    h(
      'div',
      { class: 'dialog-head' },
      h('h2', null, opts.title),
      !opts.mandatory &&
        h('button', { class: 'btn icon', type: 'button', 'aria-label': t('common.close'), title: t('common.close'), on: { click: close } }, '×'),
    ),
    h('div', { class: 'dialog-body' }, opts.body),
  );
  const overlay = h('div', { class: 'overlay' }, box);
  overlay.addEventListener('click', (e) => {
    if (e.target === overlay && !opts.mandatory) close();
  });
  document.addEventListener('keydown', onKey);
  document.body.appendChild(overlay);
  const first = box.querySelector<HTMLElement>('input, select, textarea, button.primary');
  first?.focus();
  return { el: box, close };
}

/** A one-field form dialog; resolves with the value, or null when dismissed. */
export function promptDialog(opts: {
  title: string;
  message?: string;
  error?: string;
  label: string;
  type: 'text' | 'password';
  submit: string;
  testid: string;
  mandatory?: boolean;
}): Promise<string | null> {
  return new Promise((resolve) => {
    let done = false;
    const input = h('input', { type: opts.type, class: 'text-input', 'aria-label': opts.label, 'data-testid': `${opts.testid}-input`, autocomplete: 'off' });
    const dlg = openDialog({
      title: opts.title,
      testid: opts.testid,
      mandatory: opts.mandatory,
      onClose: () => {
        if (!done) resolve(null);
      },
      body: [
        opts.message && h('p', null, opts.message),
        opts.error && h('p', { class: 'error', role: 'alert' }, opts.error),
        h(
          'form',
          {
            class: 'dialog-form',
            on: {
              submit: (e: Event) => {
                e.preventDefault();
                done = true;
                resolve(input.value);
                dlg.close();
              },
            },
          },
          h('label', { class: 'field' }, h('span', null, opts.label), input),
          h('button', { class: 'btn primary', type: 'submit', 'data-testid': `${opts.testid}-submit` }, opts.submit),
        ),
      ],
    });
  });
}
