// Room names. What a user types ("Планёрка отдела 3") becomes the room's
// canonical name by one rule, used for the URL, the MUC JID and the recent
// list alike:
//   - Unicode NFC, lower case (lib-jitsi-meet needs lower-case rooms, §11.6);
//   - letters and digits of any script are kept as they are;
//   - runs of spaces, hyphens, underscores and dots become one hyphen;
//   - everything else (punctuation, '@', '/', quotes...) is dropped, since it
//     is not allowed in a JID localpart or a room URL;
//   - leading/trailing hyphens are trimmed; at most 64 characters.
// "Планёрка отдела 3" -> "планёрка-отдела-3"; the URL carries it
// percent-encoded (/%D0%BF...), and meet-web decodes it back.
import { t, type MessageKey } from './i18n';

export const MAX_ROOM_LENGTH = 64;

export function toRoomName(input: string): string {
  const name = input
    .normalize('NFC')
    .toLowerCase()
    .replace(/[\s\-_.]+/gu, '-')
    .replace(/[^\p{L}\p{M}\p{N}-]/gu, '')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return [...name].slice(0, MAX_ROOM_LENGTH).join('').replace(/-$/, '');
}

/** The path of a room's page. */
export function roomPath(room: string): string {
  return '/' + encodeURIComponent(room);
}

/** The room named by a page path, or '' for the home page. */
export function roomFromPath(pathname: string): string {
  const seg = pathname.replace(/^\/+/, '').split('/')[0] ?? '';
  try {
    return toRoomName(decodeURIComponent(seg));
  } catch {
    return toRoomName(seg);
  }
}

function pick(words: string[]): string {
  const buf = new Uint32Array(1);
  crypto.getRandomValues(buf);
  return words[(buf[0] ?? 0) % words.length] ?? '';
}

function list(key: MessageKey): string[] {
  return t(key).split(/\s+/).filter(Boolean);
}

/**
 * A long random name in the UI language, "AdjectivesNounsVerbAdverb" style
 * (e.g. "BraveOttersSingLoudly"); about 40^4 combinations, long enough that
 * nobody stumbles into the room by guessing.
 */
export function generateRoomName(): string {
  const cap = (w: string) => w.charAt(0).toLocaleUpperCase() + w.slice(1);
  return [
    pick(list('roomgen.adjectives')),
    pick(list('roomgen.nouns')),
    pick(list('roomgen.verbs')),
    pick(list('roomgen.adverbs')),
  ].map(cap).join('');
}
