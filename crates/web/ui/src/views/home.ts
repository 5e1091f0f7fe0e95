// The home page: a room-name field with a generated name, Go, and the list of
// recent conferences.
import { h, replace } from '../dom';
import { lang, t } from '../i18n';
import { recentRooms, removeRecent } from '../recent';
import { generateRoomName, roomPath, toRoomName } from '../room-name';
import { header } from './header';
import { rememberTitle } from './titles';

export function renderHome(root: HTMLElement, typed?: string): void {
  const input = h('input', {
    id: 'room-name',
    class: 'room-input',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: 100,
    'aria-label': t('home.roomLabel'),
    placeholder: t('home.roomPlaceholder'),
    'data-testid': 'room-name',
    props: { value: typed ?? generateRoomName() },
  });
  const preview = h('p', { class: 'room-preview', 'data-testid': 'room-preview' });
  const go = h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'go' }, t('home.go'));

  const update = () => {
    const room = toRoomName(input.value);
    go.disabled = room === '';
    // Shown decoded (readable Cyrillic); the address bar carries it percent-encoded.
    replace(preview, room ? t('home.linkPreview', { link: `${location.origin}/${room}` }) : t('home.nameInvalid'));
  };
  input.addEventListener('input', update);
  update();

  const form = h(
    'form',
    {
      class: 'start-form',
      on: {
        submit: (e: Event) => {
          e.preventDefault();
          const room = toRoomName(input.value);
          if (!room) return;
          rememberTitle(room, input.value.trim());
          location.assign(roomPath(room));
        },
      },
    },
    h('div', { class: 'start-row' }, input, go),
    h(
      'button',
      {
        class: 'btn link',
        type: 'button',
        'data-testid': 'regenerate',
        on: {
          click: () => {
            input.value = generateRoomName();
            update();
          },
        },
      },
      t('home.regenerate'),
    ),
    preview,
  );

  replace(
    root,
    header(),
    h(
      'main',
      { class: 'home' },
      h('h1', null, t('home.title')),
      h('p', { class: 'lead' }, t('home.subtitle')),
      form,
      h('p', { class: 'hint' }, t('home.hint')),
      recentList(root, () => input.value),
    ),
  );
  input.focus();
  input.select();
}

function recentList(root: HTMLElement, typed: () => string): HTMLElement {
  const rooms = recentRooms();
  const fmt = new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'short' });
  return h(
    'section',
    { class: 'recent', 'data-testid': 'recent' },
    h('h2', null, t('home.recent')),
    rooms.length === 0
      ? h('p', { class: 'muted' }, t('home.noRecent'))
      : h(
          'ul',
          { class: 'recent-list' },
          rooms.map((r) =>
            h(
              'li',
              { 'data-room': r.room },
              h('a', { href: roomPath(r.room), class: 'recent-link' }, r.title),
              h('span', { class: 'muted recent-time' }, fmt.format(new Date(r.joinedAt))),
              h(
                'button',
                {
                  class: 'btn icon',
                  type: 'button',
                  title: t('home.removeRecent'),
                  'aria-label': t('home.removeRecent'),
                  on: {
                    click: () => {
                      removeRecent(r.room);
                      renderHome(root, typed());
                    },
                  },
                },
                '×',
              ),
            ),
          ),
        ),
  );
}
