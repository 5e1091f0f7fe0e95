// Loads jQuery and the lib-jitsi-meet bundle on demand, so the home page does
// not pay for them (~900 KB). The bundle looks for jQuery under the global
// name `jquery` in lower case (protocol notes §11.8), hence the alias.
import type { JitsiMeetJSApi } from './ljm-types';

declare const __LJM_URL__: string;
declare const __JQUERY_URL__: string;

let loading: Promise<JitsiMeetJSApi> | null = null;

function script(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.async = false;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(s);
  });
}

export function loadLibJitsiMeet(): Promise<JitsiMeetJSApi> {
  if (!loading) {
    loading = (async () => {
      if (!window.jQuery) await script(__JQUERY_URL__);
      window.jquery = window.jQuery;
      await script(__LJM_URL__);
      const api = window.JitsiMeetJS;
      if (!api) throw new Error('lib-jitsi-meet did not define JitsiMeetJS');
      api.init({ disableAudioLevels: false, enableAnalyticsLogging: false, disableThirdPartyRequests: true });
      api.setLogLevel(api.logLevels.WARN ?? 'warn');
      return api;
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}
