//! c2s login over plain TCP: stream, SASL (ANONYMOUS or PLAIN), stream
//! restart, resource binding; and a clean close.

use std::time::Duration;

use base64::Engine;

use crate::wire::{self, Conn, Next};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mech {
    Anonymous,
    Plain,
}

/// Who logs in.
#[derive(Clone, Debug)]
pub struct LoginSpec {
    pub addr: String,
    pub domain: String,
    pub mech: Mech,
    pub user: String,
    pub password: String,
    pub timeout: Duration,
}

fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
    )
}

fn err(stage: &str, e: impl std::fmt::Display) -> String {
    format!("{stage}: {e}")
}

/// Wait for `<stream:features>` after a stream header.
async fn features(c: &mut Conn, t: Duration, stage: &str) -> Result<Vec<u8>, String> {
    loop {
        let r = c.element(t).await.map_err(|e| err(stage, e))?;
        let el = &c.rx.bytes()[r];
        if wire::element_name(el).ends_with(b"features") {
            return Ok(el.to_vec());
        }
    }
}

/// Log in; returns the connection and the bound full JID.
pub async fn login(spec: &LoginSpec) -> Result<(Conn, String), String> {
    let t = spec.timeout;
    let mut c = tokio::time::timeout(t, Conn::connect(&spec.addr))
        .await
        .map_err(|_| "connect: timed out".to_string())?
        .map_err(|e| err("connect", e))?;
    let hdr = header(&spec.domain);
    c.send(hdr.as_bytes())
        .await
        .map_err(|e| err("send header", e))?;
    let f = features(&mut c, t, "features").await?;
    let (mech_name, auth) = match spec.mech {
        Mech::Anonymous => (
            "ANONYMOUS",
            // "=" is an empty initial response (RFC 6120 6.4.2).
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>=</auth>"
                .to_string(),
        ),
        Mech::Plain => {
            let raw = format!("\0{}\0{}", spec.user, spec.password);
            let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
            (
                "PLAIN",
                format!(
                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{b64}</auth>"
                ),
            )
        }
    };
    if wire::find(&f, format!(">{mech_name}<").as_bytes()).is_none() {
        return Err(format!(
            "features: {mech_name} not offered: {}",
            String::from_utf8_lossy(&f)
        ));
    }
    c.send(auth.as_bytes())
        .await
        .map_err(|e| err("send auth", e))?;
    loop {
        let r = c.element(t).await.map_err(|e| err("sasl", e))?;
        let el = &c.rx.bytes()[r];
        match wire::element_name(el) {
            b"success" => break,
            b"failure" => return Err(format!("sasl: {}", String::from_utf8_lossy(el))),
            b"challenge" => {
                c.send(b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
                    .await
                    .map_err(|e| err("send response", e))?;
            }
            _ => {}
        }
    }
    c.send(hdr.as_bytes())
        .await
        .map_err(|e| err("send restart", e))?;
    let f = features(&mut c, t, "features after auth").await?;
    if wire::find(&f, b"urn:ietf:params:xml:ns:xmpp-bind").is_none() {
        return Err(format!(
            "features after auth: no bind: {}",
            String::from_utf8_lossy(&f)
        ));
    }
    c.send(b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        .await
        .map_err(|e| err("send bind", e))?;
    loop {
        let r = c.element(t).await.map_err(|e| err("bind", e))?;
        let el = &c.rx.bytes()[r];
        if wire::element_name(el) != b"iq" || wire::attr(el, "id") != Some(b"bind1") {
            continue;
        }
        if wire::attr(el, "type") != Some(b"result") {
            return Err(format!("bind: {}", String::from_utf8_lossy(el)));
        }
        let jid = wire::child_text(el, "jid")
            .ok_or_else(|| format!("bind: no jid: {}", String::from_utf8_lossy(el)))?;
        let jid = String::from_utf8_lossy(jid).into_owned();
        if jid.contains(['\'', '<', '&']) {
            return Err(format!("bind: unexpected characters in jid {jid}"));
        }
        return Ok((c, jid));
    }
}

/// Send `</stream:stream>` and wait (bounded) for the server to close its
/// side first, so TIME_WAIT sockets pile up on the server side of loopback
/// rather than exhausting the client's ephemeral ports.
pub async fn close(mut c: Conn, timeout: Duration) -> Result<(), String> {
    c.send(b"</stream:stream>")
        .await
        .map_err(|e| err("send close", e))?;
    loop {
        match c.next(timeout).await {
            Ok(Next::StreamClose) => {
                // Keep reading until the server drops the TCP connection.
                continue;
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(err("close", e)),
        }
    }
}
