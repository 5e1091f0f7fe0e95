// Russian and English strings (lang/*.json, both bundled: together they are a
// few kilobytes, and bundling avoids a flash of untranslated text). The
// browser's languages pick one unless the user chose; the choice is stored
// and <html lang> follows it.
import en from '../lang/en.json';
import ru from '../lang/ru.json';
import { load, save } from './storage';
import { Emitter } from './emitter';

export type MessageKey = keyof typeof en;
export type Lang = 'en' | 'ru';
export const LANGS: readonly Lang[] = ['en', 'ru'];

// ru.json must have exactly en.json's keys (checked by test/i18n.test.mjs);
// the assignment makes the compiler check it too.
const catalogs: Record<Lang, Record<MessageKey, string>> = { en, ru };

let current: Lang = 'en';
export const langEvents = new Emitter<{ change: [Lang] }>();

function isLang(v: unknown): v is Lang {
  return typeof v === 'string' && (LANGS as readonly string[]).includes(v);
}

/** The stored choice, else the first supported browser language, else the server's default. */
export function detectLang(navLangs: readonly string[], serverDefault?: string): Lang {
  const stored = load<unknown>('lang', null);
  if (isLang(stored)) return stored;
  for (const l of navLangs) {
    const primary = l.toLowerCase().split('-')[0];
    if (isLang(primary)) return primary;
  }
  return isLang(serverDefault) ? serverDefault : 'en';
}

export function initLang(serverDefault?: string): void {
  const nav = navigator.languages?.length ? navigator.languages : [navigator.language];
  apply(detectLang(nav, serverDefault));
}

export function setLang(lang: Lang): void {
  save('lang', lang);
  apply(lang);
  langEvents.emit('change', lang);
}

function apply(lang: Lang): void {
  current = lang;
  document.documentElement.lang = lang;
}

export function lang(): Lang {
  return current;
}

/** The message for `key`, with {name} placeholders filled from params. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  const text = catalogs[current][key] ?? catalogs.en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}
