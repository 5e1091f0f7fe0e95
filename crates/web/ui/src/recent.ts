// The list of recent conferences on the home page (localStorage).
import { load, save } from './storage';

export interface RecentRoom {
  room: string;
  /** The name as the user typed it, for display. */
  title: string;
  /** When it was last joined (ms since epoch). */
  joinedAt: number;
}

const KEY = 'recent';
const MAX = 20;

export function recentRooms(): RecentRoom[] {
  const list = load<unknown>(KEY, []);
  if (!Array.isArray(list)) return [];
  return list.filter(
    (r): r is RecentRoom =>
      typeof r === 'object' && r !== null && typeof r.room === 'string' && typeof r.joinedAt === 'number',
  );
}

export function addRecent(room: string, title: string): void {
  const rest = recentRooms().filter((r) => r.room !== room);
  save(KEY, [{ room, title: title || room, joinedAt: Date.now() }, ...rest].slice(0, MAX));
}

export function removeRecent(room: string): void {
  save(KEY, recentRooms().filter((r) => r.room !== room));
}
