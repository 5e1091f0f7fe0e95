//! Just enough STUN (RFC 8489) to route a datagram to its endpoint before
//! str0m sees it: the message class and the USERNAME attribute, whose first
//! half is the ICE ufrag we gave that endpoint. Integrity is not checked here;
//! `Rtc::accepts` does that on the one endpoint the ufrag names.

/// STUN's magic cookie, bytes 4..8 of every RFC 5389+ message.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER_LEN: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;
/// RFC 8489 caps USERNAME at 509 bytes; anything longer is not ours.
const MAX_USERNAME_LEN: usize = 509;
const BINDING_REQUEST: u16 = 0x0001;

/// What the router needs from a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunInfo<'a> {
    /// A Binding request (a connectivity check or consent refresh).
    pub is_binding_request: bool,
    /// The receiver's ufrag: the part of USERNAME before the colon.
    pub local_ufrag: Option<&'a str>,
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

/// Whether the datagram looks like STUN (RFC 7983 demultiplexing: first
/// byte 0..=3, plus the magic cookie and a sane length).
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf.first().is_some_and(|b| *b < 4)
        && buf.get(4..8) == Some(&MAGIC_COOKIE[..])
        && be16(buf, 2)
            .map(usize::from)
            .is_some_and(|len| len % 4 == 0 && HEADER_LEN + len <= buf.len())
}

/// Parses the header and walks the attributes up to USERNAME. Returns None
/// for anything that is not well-formed STUN.
pub fn parse(buf: &[u8]) -> Option<StunInfo<'_>> {
    if !is_stun(buf) {
        return None;
    }
    let msg_type = be16(buf, 0)?;
    let body_len = usize::from(be16(buf, 2)?);
    let body = buf.get(HEADER_LEN..HEADER_LEN + body_len)?;
    let mut local_ufrag = None;
    let mut rest = body;
    while rest.len() >= 4 {
        let attr_type = be16(rest, 0)?;
        let attr_len = usize::from(be16(rest, 2)?);
        let value = rest.get(4..4 + attr_len)?;
        if attr_type == ATTR_USERNAME {
            if attr_len > MAX_USERNAME_LEN {
                return None;
            }
            let username = std::str::from_utf8(value).ok()?;
            local_ufrag = username.split_once(':').map(|(local, _)| local);
            break;
        }
        // Values are padded to a multiple of four bytes.
        let padded = (attr_len + 3) & !3;
        rest = rest.get(4 + padded..)?;
    }
    Some(StunInfo {
        is_binding_request: msg_type == BINDING_REQUEST,
        local_ufrag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(msg_type: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
            body.extend_from_slice(v);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = Vec::new();
        m.extend_from_slice(&msg_type.to_be_bytes());
        m.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn finds_the_local_ufrag_after_other_attributes() {
        // PRIORITY (0x0024) first, then USERNAME with a length needing padding.
        let m = message(
            0x0001,
            &[(0x0024, &[0, 0, 0, 1]), (ATTR_USERNAME, b"bridgeUf:cli")],
        );
        let info = parse(&m).unwrap();
        assert!(info.is_binding_request);
        assert_eq!(info.local_ufrag, Some("bridgeUf"));
    }

    #[test]
    fn responses_and_indications_have_no_username() {
        let m = message(0x0101, &[(0x0020, &[0; 8])]);
        let info = parse(&m).unwrap();
        assert!(!info.is_binding_request);
        assert_eq!(info.local_ufrag, None);
    }

    #[test]
    fn rfc5769_sample_request() {
        // RFC 5769 §2.1: USERNAME "evtj:h6vY".
        let hex = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let info = parse(&bytes).unwrap();
        assert_eq!(info.local_ufrag, Some("evtj"));
    }

    #[test]
    fn malformed_input_is_rejected_without_panic() {
        let good = message(0x0001, &[(ATTR_USERNAME, b"a:b")]);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut lying = good.clone();
        // Attribute length beyond the message.
        lying[22] = 0xff;
        assert_eq!(parse(&lying), None);
        let mut long = good.clone();
        long[2] = 0xff;
        assert_eq!(parse(&long), None);
        assert_eq!(parse(&[0u8; 3]), None);
        assert_eq!(parse(&[0x80; 40]), None);
        let mut not_utf8 = message(0x0001, &[(ATTR_USERNAME, &[0xff, b':', b'x'])]);
        assert_eq!(parse(&not_utf8), None);
        not_utf8[4] = 0;
        assert!(!is_stun(&not_utf8));
    }
}
