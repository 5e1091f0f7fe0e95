// 404.html: the page meet-web serves for paths that are neither a file nor a room.
import { h, replace } from '../dom';
import { t } from '../i18n';
import { header } from './header';

export function renderNotFound(root: HTMLElement): void {
  replace(
    root,
    header(),
    h('main', { class: 'home' }, h('h1', null, t('notFound.title')), h('p', null, h('a', { href: '/' }, t('notFound.back')))),
  );
}
