// Our handles on local and remote media, so the UI never touches
// lib-jitsi-meet track objects directly.
import type { LjmTrack } from './ljm-types';

export type MediaKind = 'audio' | 'video';

export class LocalMedia {
  constructor(readonly track: LjmTrack) {}
  get kind(): MediaKind {
    return this.track.getType();
  }
  get isScreen(): boolean {
    return this.track.getVideoType?.() === 'desktop';
  }
  get muted(): boolean {
    return this.track.isMuted();
  }
  get deviceId(): string | undefined {
    return this.track.getDeviceId?.();
  }
  attach(el: HTMLMediaElement): void {
    this.track.attach(el);
  }
  detach(el: HTMLMediaElement): void {
    this.track.detach(el);
  }
  /** Called once when the browser ends the track (device unplugged, screen share stopped from the browser bar). */
  onEnded(fn: () => void): void {
    this.track.addEventListener('track.stopped', fn);
  }
  dispose(): Promise<void> {
    return this.track.dispose().catch(() => undefined);
  }
}

export class RemoteMedia {
  constructor(readonly track: LjmTrack) {}
  get id(): string {
    return this.track.getId();
  }
  get participantId(): string {
    return this.track.getParticipantId();
  }
  get kind(): MediaKind {
    return this.track.getType();
  }
  get isScreen(): boolean {
    return this.track.getVideoType?.() === 'desktop';
  }
  get muted(): boolean {
    return this.track.isMuted();
  }
  attach(el: HTMLMediaElement): void {
    this.track.attach(el);
  }
  detach(el: HTMLMediaElement): void {
    this.track.detach(el);
  }
}

/** What went wrong when asking for a camera, microphone or screen. */
export type MediaError = 'denied' | 'notFound' | 'canceled' | 'other';

export function mediaErrorKind(e: unknown): MediaError {
  const name = (e as { name?: string } | null)?.name ?? '';
  if (name === 'gum.permission_denied' || name === 'NotAllowedError') return 'denied';
  if (name === 'gum.not_found' || name === 'NotFoundError') return 'notFound';
  if (name === 'gum.screensharing_user_canceled') return 'canceled';
  return 'other';
}
