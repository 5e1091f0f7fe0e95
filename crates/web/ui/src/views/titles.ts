// The name as the user typed it ("Планёрка отдела"), carried from the home
// page to the conference page for the title and the recent list; a room
// opened from a link shows its canonical name.
const KEY = 'meet.titles';

export function rememberTitle(room: string, title: string): void {
  try {
    const all = JSON.parse(sessionStorage.getItem(KEY) ?? '{}') as Record<string, string>;
    all[room] = title;
    sessionStorage.setItem(KEY, JSON.stringify(all));
  } catch {
    /* storage unavailable */
  }
}

export function titleOf(room: string): string {
  try {
    const all = JSON.parse(sessionStorage.getItem(KEY) ?? '{}') as Record<string, unknown>;
    const v = all[room];
    if (typeof v === 'string' && v) return v;
  } catch {
    /* storage unavailable */
  }
  return room;
}
