// Entry point: reads the configuration, picks the language, and shows the
// home page, a room (pre-join then the conference), or the not-found page.
import './styles.css';
import { apiBridge } from './api/iframe-bridge';
import { loadConfig, parseHash } from './config';
import { byId } from './dom';
import { initLang, langEvents } from './i18n';
import { roomFromPath, roomPath } from './room-name';
import { runConference } from './views/conference';
import { renderHome } from './views/home';
import { renderNotFound } from './views/not-found';
import { titleOf } from './views/titles';

function main(): void {
  const hash = parseHash(location.hash);
  const cfg = loadConfig(hash);
  initLang(cfg.defaultLanguage);
  const root = byId('app');

  if (document.body.dataset.view === 'not-found') {
    renderNotFound(root);
    langEvents.on('change', () => renderNotFound(root));
    return;
  }
  const room = roomFromPath(location.pathname);
  if (!room) {
    renderHome(root);
    langEvents.on('change', () => renderHome(root, (document.getElementById('room-name') as HTMLInputElement | null)?.value));
    return;
  }
  // One canonical URL per room ("/Team Sync" -> "/team-sync").
  if (location.pathname !== roomPath(room)) history.replaceState(null, '', roomPath(room) + location.search + location.hash);
  void runConference(root, {
    cfg,
    room,
    title: titleOf(room),
    displayName: hash.userInfo.displayName,
    // The pre-join screen is where the browser asks for the camera, so it is
    // shown even though meet-web's config.js says prejoinPageEnabled=false by
    // default; only an embedding page (external_api.js) can skip it.
    skipPrejoin: hash.config.prejoinPageEnabled === false,
    api: apiBridge(hash.externalApiId),
  });
}

main();
