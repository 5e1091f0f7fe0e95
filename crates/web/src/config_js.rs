//! `/config.js` and the built-in `/interface_config.js`, generated from the
//! configuration (the guide's `/etc/jitsi/meet/<domain>-config.js`,
//! jitsi-protocol.md §8.1). The BOSH and WebSocket URLs use the request's
//! host, checked by [`crate::host`] beforehand, so one server answers under
//! every name it is reached by.
//!
//! Values are written by serde_json, so no configured text can end a
//! string early; `<` and the two JavaScript line separators are escaped as
//! well, so the output stays inert even if someone inlines it in a page.

use serde_json::{Map, Value, json};

use crate::config::Config;

/// Render `var config = {...};` for a request that reached us as `host`
/// over HTTPS (`secure`) or plain HTTP.
pub fn render(cfg: &Config, host: &str, secure: bool) -> String {
    let h = &cfg.hosts;
    let c = &cfg.config_js;
    let mut hosts = Map::new();
    hosts.insert("domain".into(), json!(h.domain));
    if let Some(anon) = &h.anonymousdomain {
        hosts.insert("anonymousdomain".into(), json!(anon));
    }
    hosts.insert("muc".into(), json!(h.muc()));
    hosts.insert("focus".into(), json!(h.focus()));

    let mut p2p = Map::new();
    p2p.insert("enabled".into(), json!(c.p2p_enabled));
    if !c.p2p_stun_servers.is_empty() {
        let servers: Vec<Value> = c
            .p2p_stun_servers
            .iter()
            .map(|u| json!({ "urls": u }))
            .collect();
        p2p.insert("stunServers".into(), Value::Array(servers));
    }

    let mut config = Map::new();
    config.insert("hosts".into(), Value::Object(hosts));
    config.insert("bosh".into(), json!(format!("//{host}/http-bind")));
    if c.websocket {
        let scheme = if secure { "wss" } else { "ws" };
        config.insert(
            "websocket".into(),
            json!(format!("{scheme}://{host}/xmpp-websocket")),
        );
    }
    config.insert("p2p".into(), Value::Object(p2p));
    config.insert("clientNode".into(), json!("http://jitsi.org/jitsimeet"));
    if let Some(jid) = &c.focus_user_jid {
        config.insert("focusUserJid".into(), json!(jid));
    }
    if let Some(lang) = &c.default_language {
        config.insert("defaultLanguage".into(), json!(lang));
    }
    config.insert("requireDisplayName".into(), json!(c.require_display_name));
    config.insert("prejoinPageEnabled".into(), json!(c.prejoin_page_enabled));
    if let Some(n) = c.start_audio_muted {
        config.insert("startAudioMuted".into(), json!(n));
    }
    if let Some(n) = c.start_video_muted {
        config.insert("startVideoMuted".into(), json!(n));
    }
    config.insert("channelLastN".into(), json!(c.channel_last_n));
    for (k, v) in &c.extra {
        config.insert(k.clone(), v.clone());
    }
    script("config", &Value::Object(config))
}

/// A minimal `interfaceConfig` for when the web app ships none of its own.
pub fn render_interface_config() -> String {
    script(
        "interfaceConfig",
        &json!({
            "APP_NAME": "Jitsi Meet",
            "NATIVE_APP_NAME": "Jitsi Meet",
            "PROVIDER_NAME": "meet-rs",
            "SHOW_JITSI_WATERMARK": false,
            "SHOW_WATERMARK_FOR_GUESTS": false,
            "SHOW_BRAND_WATERMARK": false,
            "SHOW_POWERED_BY": false,
            "DISABLE_JOIN_LEAVE_NOTIFICATIONS": false,
            "MOBILE_APP_PROMO": false,
        }),
    )
}

fn script(name: &str, value: &Value) -> String {
    // to_string_pretty cannot fail for a Value (string keys only).
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    format!("var {name} = {};\n", js_safe(&text))
}

/// `<`, U+2028 and U+2029 only occur inside JSON strings, where their
/// `\u` escapes mean the same.
fn js_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(extra: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[hosts]\ndomain = \"meet.example.com\"\n[server]\nplain_http = true\nstatic_root = \"{}\"\n{extra}",
            dir.path().display()
        );
        Config::parse(Path::new("web.toml"), &text).expect("config")
    }

    /// The object literal as JSON (everything between `=` and `;`).
    fn object(js: &str) -> Value {
        let body = js
            .strip_prefix("var config = ")
            .and_then(|s| s.strip_suffix(";\n"))
            .expect("var config = …;");
        serde_json::from_str(body).expect("JSON object")
    }

    #[test]
    fn hosts_and_urls() {
        let js = render(&config(""), "meet.example.com", true);
        let v = object(&js);
        assert_eq!(v["hosts"]["domain"], "meet.example.com");
        assert_eq!(v["hosts"]["muc"], "conference.meet.example.com");
        assert_eq!(v["hosts"]["focus"], "focus.meet.example.com");
        assert!(v["hosts"].get("anonymousdomain").is_none());
        assert_eq!(v["bosh"], "//meet.example.com/http-bind");
        assert_eq!(v["websocket"], "wss://meet.example.com/xmpp-websocket");
        assert_eq!(v["p2p"]["enabled"], false);
        assert_eq!(v["channelLastN"], -1);
    }

    #[test]
    fn plain_http_uses_ws_and_the_request_host() {
        let v = object(&render(&config(""), "localhost:8000", false));
        assert_eq!(v["websocket"], "ws://localhost:8000/xmpp-websocket");
        assert_eq!(v["bosh"], "//localhost:8000/http-bind");
    }

    #[test]
    fn optional_keys() {
        let cfg = config(
            "[config_js]\np2p_enabled = true\np2p_stun_servers = [\"stun:stun.example.com:3478\"]\nwebsocket = false\nfocus_user_jid = \"focus@auth.meet.example.com\"\ndefault_language = \"ru\"\nstart_audio_muted = 10\n[config_js.extra]\ndisableDeepLinking = true\nchannelLastN = 5\n",
        );
        let v = object(&render(&cfg, "h", true));
        assert_eq!(v["p2p"]["enabled"], true);
        assert_eq!(
            v["p2p"]["stunServers"][0]["urls"],
            "stun:stun.example.com:3478"
        );
        assert!(v.get("websocket").is_none());
        assert_eq!(v["focusUserJid"], "focus@auth.meet.example.com");
        assert_eq!(v["defaultLanguage"], "ru");
        assert_eq!(v["startAudioMuted"], 10);
        assert_eq!(v["disableDeepLinking"], true);
        // extra wins over the typed keys.
        assert_eq!(v["channelLastN"], 5);
    }

    #[test]
    fn anonymous_domain() {
        let mut cfg = config("");
        cfg.hosts.anonymousdomain = Some("guest.meet.example.com".into());
        let v = object(&render(&cfg, "h", true));
        assert_eq!(v["hosts"]["anonymousdomain"], "guest.meet.example.com");
    }

    #[test]
    fn configured_text_cannot_break_out() {
        let cfg = config(
            "[config_js]\ndefault_language = \"</script><script>alert(1)</script>\\u2028'\\\"\"\n",
        );
        let js = render(&cfg, "h", true);
        assert!(!js.contains("</script>"), "{js}");
        assert!(!js.contains('\u{2028}'), "{js}");
        assert_eq!(
            object(&js)["defaultLanguage"],
            "</script><script>alert(1)</script>\u{2028}'\""
        );
    }

    #[test]
    fn interface_config() {
        let js = render_interface_config();
        assert!(js.starts_with("var interfaceConfig = {"), "{js}");
        assert!(js.contains("\"APP_NAME\": \"Jitsi Meet\""), "{js}");
    }
}
