//! `cmp::parse_message` on arbitrary bytes: CMP requests arrive from anyone before any
//! authentication, so the parser must return an error, never panic, and keep to its bounds.
//!
//! An accepted message has its protected part rebuilt, its PBM checked with a fixed secret
//! (bounded by the iteration cap), its signature protection checked against each extraCert,
//! every signature POP checked, and an answer written with `reply_to` + `write_pbm`, which
//! must parse again with the same transactionID and a recipNonce equal to the senderNonce.

use signet_x509::cmp::{self, PkiBody, ResponseBody, ResponseHeader, StatusInfo};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    let Ok(msg) = cmp::parse_message(data) else {
        return;
    };
    assert!(
        data.len() <= cmp::MAX_MESSAGE,
        "input over MAX_MESSAGE accepted"
    );
    assert!(msg.extra_certs.len() <= cmp::MAX_ITEMS);
    let part = msg.protected_part();
    assert!(part.len() <= data.len() + 8);
    let _ = msg.verify_pbm(b"test");
    for cert in &msg.extra_certs {
        let _ = msg.verify_signature(cert);
    }
    if let PkiBody::Ir(reqs) | PkiBody::Cr(reqs) | PkiBody::Kur(reqs) = &msg.body {
        assert!(!reqs.is_empty() && reqs.len() <= cmp::MAX_ITEMS);
        for r in reqs {
            let _ = r.verify_pop();
        }
    }
    let name = [0x30, 0x00];
    let header = ResponseHeader::reply_to(&msg, &name).expect("a parsed request can be answered");
    let params = cmp::PbmParams::fresh().expect("random salt");
    let body = ResponseBody::Rp(vec![StatusInfo::accepted()]);
    let der = cmp::write_pbm(&header, &body, b"test", &params, &[]).expect("response encodes");
    if der.len() > cmp::MAX_MESSAGE {
        // Possible only for a request near the limit whose header we echo.
        return;
    }
    let back = cmp::parse_message(&der).expect("our response parses");
    assert_eq!(back.header.transaction_id, msg.header.transaction_id);
    assert_eq!(back.header.recip_nonce, msg.header.sender_nonce);
    back.verify_pbm(b"test").expect("our MAC verifies");
}
