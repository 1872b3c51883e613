//! What EST puts on the wire besides DER: base64 bodies (RFC 7030 §4, RFC 8951 §3.2: base64
//! with any line breaks, no `Content-Transfer-Encoding` needed to read them), the HTTP Basic
//! credentials (RFC 7617) and media types.

use base64ct::{Base64, Encoding};

/// Why a request body or header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not base64 (RFC 7030 sends DER as base64)")]
    NotBase64,
}

/// Decodes a base64 body: whitespace (spaces, tabs, CR, LF) anywhere is ignored, so any
/// line wrapping and CRLF line ends are accepted; the padding must be right.
pub fn decode_base64_body(body: &[u8]) -> Result<Vec<u8>, WireError> {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    if compact.is_empty() {
        return Err(WireError::Empty);
    }
    Base64::decode_vec(std::str::from_utf8(&compact).map_err(|_| WireError::NotBase64)?)
        .map_err(|_| WireError::NotBase64)
}

/// Encodes DER as a base64 body in 64-character lines ending CRLF (what RFC 2045 asks of
/// `Content-Transfer-Encoding: base64`; every EST client reads it).
pub fn encode_base64_body(der: &[u8]) -> String {
    let flat = Base64::encode_string(der);
    let mut out = String::with_capacity(flat.len() + flat.len() / 32 + 2);
    for line in flat.as_bytes().chunks(64) {
        // The encoder wrote ASCII only, so every chunk is UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// The user and password of an `Authorization: Basic ...` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Parses an `Authorization` value of the Basic scheme (RFC 7617): the scheme in any case,
/// one or more spaces, base64 of `user:password` in UTF-8. `None` for any other scheme or
/// a malformed value.
pub fn parse_basic(value: &[u8]) -> Option<BasicCredentials> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Base64::decode_vec(rest.trim_matches(' ')).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    // The user id cannot contain a colon (RFC 7617 §2); the password may.
    let (user, password) = text.split_once(':')?;
    if user.is_empty() || password.is_empty() {
        return None;
    }
    Some(BasicCredentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Whether a `Content-Type` value names `expected` (`type/subtype`, any case, parameters
/// ignored).
pub fn media_type_is(value: &[u8], expected: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_bodies_with_any_line_breaks_decode() {
        let der: Vec<u8> = (0u8..=200).collect();
        let wrapped = encode_base64_body(&der);
        assert!(wrapped.lines().all(|l| l.trim_end().len() <= 64));
        assert!(wrapped.contains("\r\n"));
        assert_eq!(decode_base64_body(wrapped.as_bytes()), Ok(der.clone()));
        let flat = Base64::encode_string(&der);
        assert_eq!(decode_base64_body(flat.as_bytes()), Ok(der.clone()));
        let lf76: String = flat
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(decode_base64_body(lf76.as_bytes()), Ok(der.clone()));
        let spaced = format!("  {}\t\r\n", flat);
        assert_eq!(decode_base64_body(spaced.as_bytes()), Ok(der));
    }

    #[test]
    fn bad_base64_bodies_are_refused() {
        assert_eq!(decode_base64_body(b""), Err(WireError::Empty));
        assert_eq!(decode_base64_body(b"\r\n  "), Err(WireError::Empty));
        assert_eq!(decode_base64_body(b"MII!"), Err(WireError::NotBase64));
        // Truncated (bad padding) and raw DER.
        assert_eq!(decode_base64_body(b"MIIB"), Ok(vec![0x30, 0x82, 0x01]));
        assert_eq!(decode_base64_body(b"MII"), Err(WireError::NotBase64));
        assert_eq!(
            decode_base64_body(&[0x30, 0x82, 0x01, 0x00]),
            Err(WireError::NotBase64)
        );
        assert_eq!(decode_base64_body(&[0xff, 0xfe]), Err(WireError::NotBase64));
    }

    #[test]
    fn basic_credentials_parse() {
        let header = format!("Basic {}", Base64::encode_string(b"dev1:signet_abc:def"));
        assert_eq!(
            parse_basic(header.as_bytes()),
            Some(BasicCredentials {
                user: "dev1".into(),
                password: "signet_abc:def".into()
            })
        );
        let lower = format!("basic   {}", Base64::encode_string(b"u:p"));
        assert_eq!(
            parse_basic(lower.as_bytes()).map(|c| c.user),
            Some("u".into())
        );
        for bad in [
            "Bearer abc".to_string(),
            "Basic".to_string(),
            "Basic !!!".to_string(),
            format!("Basic {}", Base64::encode_string(b"nocolon")),
            format!("Basic {}", Base64::encode_string(b":nouser")),
            format!("Basic {}", Base64::encode_string(b"nopassword:")),
            format!("Basic {}", Base64::encode_string(&[0xff, b':', b'x'])),
        ] {
            assert_eq!(parse_basic(bad.as_bytes()), None, "{bad}");
        }
        let shown = format!("{:?}", parse_basic(header.as_bytes()));
        assert!(!shown.contains("signet_abc"), "{shown}");
    }

    #[test]
    fn media_types_compare_without_parameters() {
        assert!(media_type_is(b"application/pkcs10", "application/pkcs10"));
        assert!(media_type_is(
            b"Application/PKCS10; charset=x",
            "application/pkcs10"
        ));
        assert!(!media_type_is(
            b"application/x-www-form-urlencoded",
            "application/pkcs10"
        ));
        assert!(!media_type_is(&[0xff], "application/pkcs10"));
    }
}
