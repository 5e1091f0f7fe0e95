// A minimal typed event emitter (the UI's modules talk through these instead
// of reaching into each other).

type Handler = (...args: unknown[]) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private handlers = new Map<keyof Events, Set<Handler>>();

  on<K extends keyof Events>(name: K, fn: (...args: Events[K]) => void): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(fn as unknown as Handler);
    return () => set?.delete(fn as unknown as Handler);
  }

  emit<K extends keyof Events>(name: K, ...args: Events[K]): void {
    for (const fn of [...(this.handlers.get(name) ?? [])]) {
      try {
        fn(...(args as unknown[]));
      } catch (e) {
        console.error(`handler for ${String(name)} failed`, e);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
  }
}
