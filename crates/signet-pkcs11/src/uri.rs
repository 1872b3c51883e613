//! RFC 7512 PKCS#11 URIs: which module, token and key object a CA key is.
//!
//! `pkcs11:token=Signet%20CA;object=issuing-2026?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/signet/pin`
//!
//! The path part names the token (`token`, `serial`, `manufacturer`, `model`, `slot-id`) and
//! the key (`object` = CKA_LABEL, `id` = CKA_ID, percent-encoded bytes; `type`, if given,
//! must be `private`). The query part names the module (`module-path`) and where the PIN is
//! (`pin-source=file:/path`). A PIN in the URI itself (`pin-value`) is refused: URIs end up
//! on command lines, in configuration files and in logs. Without `pin-source` the PIN comes
//! from the environment variable `SIGNET_PKCS11_PIN`.

use std::fmt;
use std::path::PathBuf;

use crate::Pkcs11Error;

/// A parsed `pkcs11:` URI (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// CKA_LABEL of the token.
    pub token: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    /// CKA_LABEL of the key.
    pub object: Option<String>,
    /// CKA_ID of the key.
    pub id: Option<Vec<u8>>,
    /// The PKCS#11 module (a shared library).
    pub module_path: Option<PathBuf>,
    /// The file the PIN is read from.
    pub pin_file: Option<PathBuf>,
    /// The URI as given, for messages (it holds no secret: `pin-value` is refused).
    text: String,
}

/// The environment variable the PIN comes from when the URI has no `pin-source`.
pub const PIN_ENV: &str = "SIGNET_PKCS11_PIN";

/// The environment variable naming the module when the URI has no `module-path`.
pub const MODULE_ENV: &str = "SIGNET_PKCS11_MODULE";

impl Pkcs11Uri {
    /// Whether `s` is meant as a PKCS#11 URI (rather than a key file path).
    pub fn is_pkcs11(s: &str) -> bool {
        s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses a URI, refusing attributes this CA does not understand (a typo would otherwise
    /// select a different key than meant) and a PIN written into it.
    pub fn parse(s: &str) -> Result<Pkcs11Uri, Pkcs11Error> {
        let bad = |why: String| Pkcs11Error::Uri(why);
        if !Pkcs11Uri::is_pkcs11(s) {
            return Err(bad("it does not start with `pkcs11:`".into()));
        }
        let rest = &s[7..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri {
            text: s.to_owned(),
            ..Pkcs11Uri::default()
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("path attribute {attr:?} has no value")))?;
            let value = percent_decode(value)?;
            let text = || {
                String::from_utf8(value.clone())
                    .map_err(|_| bad(format!("{name} is not UTF-8 text")))
            };
            match name {
                "token" => uri.token = Some(text()?),
                "serial" => uri.serial = Some(text()?),
                "manufacturer" => uri.manufacturer = Some(text()?),
                "model" => uri.model = Some(text()?),
                "object" => uri.object = Some(text()?),
                "id" => uri.id = Some(value),
                "slot-id" => {
                    uri.slot_id = Some(
                        text()?
                            .parse()
                            .map_err(|_| bad("slot-id is not a number".into()))?,
                    )
                }
                "type" => {
                    if text()? != "private" {
                        return Err(bad("type must be `private` (the CA's signing key)".into()));
                    }
                }
                // Library attributes only narrow down the module, which module-path names.
                "library-manufacturer" | "library-description" | "library-version" => {}
                other => return Err(bad(format!("unknown path attribute {other:?}"))),
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("query attribute {attr:?} has no value")))?;
            let value = String::from_utf8(percent_decode(value)?)
                .map_err(|_| bad(format!("{name} is not UTF-8 text")))?;
            match name {
                "module-path" => uri.module_path = Some(PathBuf::from(value)),
                "pin-source" => {
                    let path = value
                        .strip_prefix("file://")
                        .or_else(|| value.strip_prefix("file:"))
                        .filter(|p| p.starts_with('/'))
                        .ok_or_else(|| bad("pin-source must be `file:/absolute/path`".into()))?;
                    uri.pin_file = Some(PathBuf::from(path));
                }
                "pin-value" => {
                    return Err(bad(format!(
                        "a PIN in the URI (pin-value) is refused: use pin-source=file:/path or {PIN_ENV}"
                    )));
                }
                other => return Err(bad(format!("unknown query attribute {other:?}"))),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad(
                "name the key with `object=` (its label) or `id=`".into()
            ));
        }
        Ok(uri)
    }

    /// The module to load: `module-path`, else `SIGNET_PKCS11_MODULE`.
    pub fn module(&self) -> Result<PathBuf, Pkcs11Error> {
        if let Some(p) = &self.module_path {
            return Ok(p.clone());
        }
        std::env::var_os(MODULE_ENV)
            .map(PathBuf::from)
            .ok_or_else(|| {
                Pkcs11Error::Uri(format!(
                    "name the PKCS#11 module with `?module-path=/path/to/module.so` or {MODULE_ENV}"
                ))
            })
    }

    /// The user PIN: the first line of the `pin-source` file, else `SIGNET_PKCS11_PIN`.
    pub fn pin(&self) -> Result<zeroize::Zeroizing<String>, Pkcs11Error> {
        let pin = match &self.pin_file {
            Some(path) => {
                let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    Pkcs11Error::Pin(format!("reading the PIN file {}: {e}", path.display()))
                })?);
                zeroize::Zeroizing::new(text.lines().next().unwrap_or("").to_owned())
            }
            None => zeroize::Zeroizing::new(std::env::var(PIN_ENV).map_err(|_| {
                Pkcs11Error::Pin(format!(
                    "no PIN: add pin-source=file:/path to the URI or set {PIN_ENV}"
                ))
            })?),
        };
        if pin.is_empty() {
            return Err(Pkcs11Error::Pin("the PIN is empty".into()));
        }
        Ok(pin)
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// RFC 3986 percent-decoding (RFC 7512 section 2.3); a malformed escape is an error.
fn percent_decode(s: &str) -> Result<Vec<u8>, Pkcs11Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Pkcs11Error::Uri(format!("a malformed %-escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_full_uri_is_parsed() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=Signet%20CA;object=issuing;id=%01%02;type=private;slot-id=7\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/signet/pin",
        )
        .expect("parses");
        assert_eq!(uri.token.as_deref(), Some("Signet CA"));
        assert_eq!(uri.object.as_deref(), Some("issuing"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(uri.slot_id, Some(7));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            uri.pin_file.as_deref(),
            Some(std::path::Path::new("/etc/signet/pin"))
        );
    }

    #[test]
    fn pins_in_the_uri_unknown_attributes_and_bad_escapes_are_refused() {
        for bad in [
            "pkcs11:object=k?pin-value=1234",
            "pkcs11:object=k;tokn=x",
            "pkcs11:object=k?module=x",
            "pkcs11:object=%zz",
            "pkcs11:object=k%4",
            "pkcs11:token=t",
            "pkcs11:object=k;type=public",
            "pkcs11:object=k?pin-source=relative/pin",
            "file:/etc/key.pem",
        ] {
            assert!(Pkcs11Uri::parse(bad).is_err(), "{bad} is refused");
        }
        let e = Pkcs11Uri::parse("pkcs11:object=k?pin-value=1234").unwrap_err();
        assert!(
            !e.to_string().contains("1234"),
            "the PIN is not echoed: {e}"
        );
    }
}
