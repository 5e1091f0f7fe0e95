// The video tiles: one per participant (local included) with name,
// moderator and raised-hand indicators, a muted-microphone mark and the
// active-speaker highlight. Two layouts by CSS alone (so <video> elements
// never move and never restart): tile view (a grid of equals) and stage
// view (the speaker or a screen share large, the rest in a filmstrip).
import type { LocalMedia, ParticipantInfo, RemoteMedia } from '../../conference/jitsi';
import { h, replace } from '../../dom';
import { t } from '../../i18n';
import { icon } from '../icons';

type Media = LocalMedia | RemoteMedia;

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement;
  name: HTMLElement;
  badges: HTMLElement;
  avatar: HTMLElement;
  menuSlot: HTMLElement;
  info: ParticipantInfo;
  videoMedia: Media | null;
  audioMedia: Media | null;
  local: boolean;
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return parts.slice(0, 2).map((p) => [...p][0]?.toLocaleUpperCase() ?? '').join('') || '?';
}

export class Tiles {
  readonly el = h('div', { class: 'tiles', 'data-testid': 'tiles' });
  private tiles = new Map<string, Tile>();
  private dominant: string | null = null;
  private tileView = false;
  /** Called when the participant on stage or the layout changes. */
  onLayout: (onStage: string | null, tileView: boolean) => void = () => {};
  private lastLayout = '';
  /** Builds the moderator menu of a remote tile (empty when not moderator). */
  menuFor: (info: ParticipantInfo) => HTMLElement | null = () => null;

  get ids(): string[] {
    return [...this.tiles.keys()];
  }

  upsert(info: ParticipantInfo, local = false): void {
    let tile = this.tiles.get(info.id);
    if (!tile) {
      const video = h('video', { autoplay: true, playsinline: true, muted: true, props: { muted: true } });
      const audio = h('audio', { autoplay: true });
      const name = h('span', { class: 'tile-name', 'data-testid': 'tile-name' });
      const badges = h('span', { class: 'tile-badges' });
      const avatar = h('div', { class: 'tile-avatar', 'aria-hidden': 'true' });
      const menuSlot = h('div', { class: 'tile-menu-slot' });
      const el = h(
        'div',
        { class: local ? 'tile local' : 'tile', 'data-participant': info.id, 'data-testid': local ? 'tile-local' : 'tile-remote' },
        avatar,
        video,
        audio,
        h('div', { class: 'tile-bar' }, badges, name),
        menuSlot,
      );
      tile = { el, video, audio, name, badges, avatar, menuSlot, info, videoMedia: null, audioMedia: null, local };
      this.tiles.set(info.id, tile);
      // The local tile stays first.
      if (local) this.el.prepend(el);
      else this.el.appendChild(el);
    }
    tile.info = info;
    this.draw(tile);
    this.layout();
  }

  /** Re-keys the local tile once the conference assigns our id. */
  rename(oldId: string, info: ParticipantInfo): void {
    const tile = this.tiles.get(oldId);
    if (!tile || oldId === info.id) return this.upsert(info, true);
    this.tiles.delete(oldId);
    tile.el.dataset.participant = info.id;
    this.tiles.set(info.id, tile);
    this.upsert(info, tile.local);
  }

  remove(id: string): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (tile.videoMedia) tile.videoMedia.detach(tile.video);
    if (tile.audioMedia) tile.audioMedia.detach(tile.audio);
    tile.el.remove();
    this.tiles.delete(id);
    if (this.dominant === id) this.dominant = null;
    this.layout();
  }

  /** Removes every remote tile (before a reconnection). */
  clearRemote(): void {
    for (const [id, tile] of this.tiles) if (!tile.local) this.remove(id);
  }

  setMedia(id: string, media: Media | null, kind: 'audio' | 'video'): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const el = kind === 'video' ? tile.video : tile.audio;
    const old = kind === 'video' ? tile.videoMedia : tile.audioMedia;
    if (old && old !== media) old.detach(el);
    if (media && old !== media) media.attach(el);
    if (kind === 'video') tile.videoMedia = media;
    else tile.audioMedia = media;
    this.draw(tile);
    this.layout();
  }

  mediaOf(id: string, kind: 'audio' | 'video'): Media | null {
    const tile = this.tiles.get(id);
    return (kind === 'video' ? tile?.videoMedia : tile?.audioMedia) ?? null;
  }

  setDominant(id: string): void {
    this.dominant = id;
    for (const [tid, tile] of this.tiles) tile.el.classList.toggle('speaking', tid === id);
    this.layout();
  }

  setTileView(on: boolean): void {
    this.tileView = on;
    this.layout();
  }

  redrawAll(): void {
    for (const tile of this.tiles.values()) this.draw(tile);
  }

  private draw(tile: Tile): void {
    const { info } = tile;
    const label = info.name || t('conference.anonymous');
    replace(tile.name, tile.local ? t('conference.you', { name: label }) : label);
    replace(tile.avatar, initials(info.name));
    const videoOn = Boolean(tile.videoMedia && !tile.videoMedia.muted);
    tile.el.classList.toggle('video-off', !videoOn);
    tile.el.classList.toggle('screen', Boolean(tile.videoMedia?.isScreen && videoOn));
    tile.el.classList.toggle('mirror', tile.local && !tile.videoMedia?.isScreen);
    tile.el.classList.toggle('hand-raised', info.raisedHand);
    replace(
      tile.badges,
      info.moderator && h('span', { class: 'badge moderator', title: t('conference.moderator'), 'data-testid': 'badge-moderator' }, icon('star')),
      info.raisedHand && h('span', { class: 'badge hand', title: t('conference.handRaised'), 'data-testid': 'badge-hand' }, icon('hand')),
      info.audioMuted && h('span', { class: 'badge muted', title: t('conference.micMuted'), 'data-testid': 'badge-muted' }, icon('mic', true)),
    );
    replace(tile.menuSlot, tile.local ? null : this.menuFor(info));
  }

  private layout(): void {
    const count = this.tiles.size;
    this.el.classList.toggle('tile-view', this.tileView || count <= 1);
    this.el.classList.toggle('stage-view', !this.tileView && count > 1);
    const cols = Math.ceil(Math.sqrt(count));
    this.el.style.setProperty('--cols', String(Math.max(1, cols)));
    // On stage: a screen share first, else the dominant speaker if remote,
    // else the first remote participant.
    const remote = [...this.tiles.values()].filter((x) => !x.local);
    const stage =
      remote.find((x) => x.el.classList.contains('screen')) ??
      remote.find((x) => x.info.id === this.dominant) ??
      remote[0];
    const stageId = stage && !this.tileView ? stage.info.id : null;
    const key = `${stageId}|${this.tileView}`;
    if (key !== this.lastLayout) {
      this.lastLayout = key;
      this.onLayout(stageId, this.tileView);
    }
    // Filmstrip slots for the others (the stylesheet places them by --i).
    let slot = 0;
    for (const tile of this.tiles.values()) {
      tile.el.classList.toggle('on-stage', tile === stage);
      if (tile !== stage) tile.el.style.setProperty('--i', String(slot++));
    }
  }
}
