// The page header: the product name and the language switch.
import { h } from '../dom';
import { LANGS, lang, setLang, t, type Lang } from '../i18n';

export function languageSelect(): HTMLSelectElement {
  const select = h(
    'select',
    { class: 'lang-select', 'aria-label': t('lang.choose'), 'data-testid': 'lang-select', on: { change: () => setLang(select.value as Lang) } },
    LANGS.map((l) => h('option', { value: l, selected: l === lang() }, t(l === 'en' ? 'lang.en' : 'lang.ru'))),
  );
  return select;
}

export function header(): HTMLElement {
  return h(
    'header',
    { class: 'page-header' },
    h('a', { class: 'brand', href: '/' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), t('app.name')),
    languageSelect(),
  );
}
