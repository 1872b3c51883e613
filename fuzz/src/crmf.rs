//! `parse_request` on arbitrary bytes: what the CA parses for every stored request, PKCS#10
//! or CRMF `CertReqMsg` (CMP's ir/cr/kur). Must return an error, never panic; an accepted
//! CRMF request has a verified POP, and parses again to the same request from its DER.

use signet_x509::{RequestFormat, cmp, parse_request};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    if let Ok(msg) = cmp::parse_cert_req_msg(data) {
        let _ = msg.verify_pop();
        assert_eq!(msg.der(), data, "a CertReqMsg is read whole");
    }
    let Ok(req) = parse_request(data) else {
        return;
    };
    if req.format == RequestFormat::Crmf {
        let again = parse_request(&req.der).expect("an accepted request parses again");
        assert_eq!(again.spki_der, req.spki_der);
        assert_eq!(again.subject.as_der(), req.subject.as_der());
    }
}
