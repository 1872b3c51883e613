//! General messages (genm → genp): what RFC 9483 §4.3 lists, and the CRL OpenSSL 3.0's
//! `-infotype currentCRL` asks for. An infoType Signet does not know is left out of the
//! answer (RFC 4210 §5.3.19).

use signet_x509::cmp::{InfoTypeAndValue, ResponseBody};

use crate::failure::Failure;
use crate::{Cmp, CmpCa};

/// id-it-currentCRL: the CA's current CRL.
const CURRENT_CRL: &str = "1.3.6.1.5.5.7.4.6";
/// id-it-caCerts (RFC 9483 §4.3.1): the CA certificates.
const CA_CERTS: &str = "1.3.6.1.5.5.7.4.17";
/// id-it-rootCaCert (RFC 9483 §4.3.2) asks; id-it-rootCaKeyUpdate answers.
const ROOT_CA_CERT: &str = "1.3.6.1.5.5.7.4.20";
const ROOT_CA_KEY_UPDATE: &str = "1.3.6.1.5.5.7.4.18";
/// id-it-certReqTemplate (RFC 9483 §4.3.3).
const CERT_REQ_TEMPLATE: &str = "1.3.6.1.5.5.7.4.19";
/// id-it-crlStatusList (RFC 9483 §4.3.4) asks; id-it-crls answers.
const CRL_STATUS_LIST: &str = "1.3.6.1.5.5.7.4.22";
const CRLS: &str = "1.3.6.1.5.5.7.4.23";

/// The genp body for the genm's items.
pub async fn answer(
    cmp: &Cmp,
    ca: &CmpCa,
    items: &[InfoTypeAndValue],
) -> Result<ResponseBody, Failure> {
    let mut out = Vec::new();
    for item in items {
        match item.info_type.as_str() {
            CA_CERTS => {
                let chain = cmp.enroll.chain(ca.ca.as_str()).await?;
                out.push((CA_CERTS.to_owned(), Some(sequence_of(&chain))));
            }
            // No CA key update is announced (the root has one key): the value is absent.
            ROOT_CA_CERT => out.push((ROOT_CA_KEY_UPDATE.to_owned(), None)),
            // No template is required: the value is absent (§4.3.3); the profile decides.
            CERT_REQ_TEMPLATE => out.push((CERT_REQ_TEMPLATE.to_owned(), None)),
            CRL_STATUS_LIST => {
                let crls = current_crl(cmp, ca).map(|c| sequence_of(&[c]));
                out.push((CRLS.to_owned(), crls));
            }
            CURRENT_CRL => {
                if let Some(crl) = current_crl(cmp, ca) {
                    out.push((CURRENT_CRL.to_owned(), Some(crl)));
                }
            }
            _ => {}
        }
    }
    Ok(ResponseBody::Genp(out))
}

/// The newest full CRL (partition 0), DER.
fn current_crl(cmp: &Cmp, ca: &CmpCa) -> Option<Vec<u8>> {
    cmp.revocation
        .crl(&ca.ca, 0, false)
        .map(|c| c.der.as_ref().clone())
}

fn sequence_of(items: &[Vec<u8>]) -> Vec<u8> {
    signet_x509::der_tlv(0x30, &items.concat())
}
