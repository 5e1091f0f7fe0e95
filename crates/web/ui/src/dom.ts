// A tiny view helper: builds DOM nodes from calls instead of HTML strings, so
// user-provided text (display names, chat, room names) can only ever become a
// text node and never markup.

export type Child = Node | string | number | null | undefined | false | Child[];

type Listener = (ev: never) => void;

export interface Props {
  class?: string;
  /** Event listeners by DOM event name ("click", "input", ...). */
  on?: Record<string, Listener>;
  /** DOM properties that are not attributes (value, checked, srcObject...). */
  props?: Record<string, unknown>;
  [attr: string]: string | number | boolean | null | undefined | Record<string, unknown>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') {
        el.className = String(value);
      } else if (key === 'on') {
        for (const [ev, fn] of Object.entries(value as Record<string, Listener>)) {
          el.addEventListener(ev, fn as EventListener);
        }
      } else if (key === 'props') {
        Object.assign(el, value);
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Appends children; strings and numbers become text nodes. */
export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (typeof c === 'string' || typeof c === 'number') parent.appendChild(document.createTextNode(String(c)));
    else parent.appendChild(c);
  }
}

/** Replaces all children of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}
