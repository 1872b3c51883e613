//! dns-01 (RFC 8555 §8.4): a TXT record at `_acme-challenge.{name}` whose value is
//! base64url(SHA-256(key authorization)). Wildcard orders validate the base name.

use super::{Inner, Target, ValidationError, dns};

pub(super) async fn validate(
    inner: &Inner,
    target: &Target,
    key_authorization: &str,
) -> Result<(), ValidationError> {
    let Target::Name(name) = target else {
        // RFC 8738 §7: dns-01 is not used for IP identifiers.
        return Err(ValidationError::Unsupported { kind: "dns-01" });
    };
    let challenge = format!("_acme-challenge.{name}");
    let lookup = inner
        .dns()
        .lookup(&challenge, dns::TYPE_TXT)
        .await
        .map_err(|source| ValidationError::Dns {
            name: challenge.clone(),
            source,
        })?;
    let expected = super::dns01_txt_value(key_authorization);
    let values: Vec<&[u8]> = lookup
        .records
        .iter()
        .filter_map(|r| match r {
            dns::RData::Txt(t) => Some(t.as_slice()),
            _ => None,
        })
        .collect();
    if values.is_empty() {
        return Err(ValidationError::NoTxt { name: challenge });
    }
    if values.contains(&expected.as_bytes()) {
        return Ok(());
    }
    let shown: Vec<String> = values
        .iter()
        .take(3)
        .map(|v| format!("{:?}", String::from_utf8_lossy(&v[..v.len().min(64)])))
        .collect();
    Err(ValidationError::Mismatch {
        what: format!(
            "{} TXT record(s) at {challenge}, none is {expected:?} (found {})",
            values.len(),
            shown.join(", ")
        ),
    })
}
