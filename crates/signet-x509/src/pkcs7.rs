//! "Certs-only" PKCS#7 (RFC 5652 §5 SignedData with no signers, RFC 8551 §3.2.2's
//! `application/pkcs7-mime; smime-type=certs-only`): how Windows and many tools take a
//! certificate with its chain in one file (`.p7b`).

use crate::asn1::tlv;

/// id-signedData, 1.2.840.113549.1.7.2.
const SIGNED_DATA: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];
/// id-data, 1.2.840.113549.1.7.1.
const DATA: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
];

/// A ContentInfo holding a degenerate SignedData with `certificates` (DER, in the order
/// given; the leaf first by convention). The certificates are copied as they are.
pub fn certs_only(certificates: &[Vec<u8>]) -> Vec<u8> {
    degenerate(0xa0, certificates)
}

/// A ContentInfo holding a degenerate SignedData with `crls` (DER) and no certificates: how
/// SCEP's GetCRL answers (RFC 8894 §3.3.5).
pub fn crls_only(crls: &[Vec<u8>]) -> Vec<u8> {
    degenerate(0xa1, crls)
}

/// A SignedData without signers or content, holding `items` under `tag` (`[0]`
/// certificates, `[1]` crls).
fn degenerate(tag: u8, items: &[Vec<u8>]) -> Vec<u8> {
    // SET OF is DER-sorted by encoding (X.690 §11.6).
    let mut sorted: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    sorted.sort_unstable();
    let mut signed = Vec::new();
    signed.extend_from_slice(&[0x02, 0x01, 0x01]); // version CMSVersion 1
    signed.extend_from_slice(&[0x31, 0x00]); // digestAlgorithms: none
    signed.extend(tlv(0x30, &DATA)); // encapContentInfo: id-data, no content
    signed.extend(tlv(tag, &sorted.concat())); // certificates [0] / crls [1], IMPLICIT
    signed.extend_from_slice(&[0x31, 0x00]); // signerInfos: none
    let mut info = SIGNED_DATA.to_vec();
    info.extend(tlv(0xa0, &tlv(0x30, &signed)));
    tlv(0x30, &info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bundle_is_well_formed() {
        let der = certs_only(&[]);
        assert_eq!(der[0], 0x30);
        assert_eq!(usize::from(der[1]), der.len() - 2);
    }
}
