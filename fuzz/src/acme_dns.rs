//! `signet_acme::validate::dns::parse_message` on arbitrary bytes: answers to validation
//! queries come from the network (an attacker may run the resolver's upstream or spoof
//! datagrams), so the parser errors and never panics, and what it accepts stays bounded.
//! The same bytes as text also go through `build_query` (whose output must parse back) and
//! `IpRange` parsing (which must round-trip through `Display`).

use signet_acme::validate::IpRange;
use signet_acme::validate::dns::{RData, build_query, parse_message};

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    if let Ok(message) = parse_message(data) {
        assert!(message.questions.len() + message.answers.len() <= 256);
        // A name is at most 255 octets on the wire; in text each octet takes at most 4
        // characters (`\DDD`).
        for q in &message.questions {
            assert!(q.name.len() <= 4 * 255);
        }
        for r in &message.answers {
            assert!(r.name.len() <= 4 * 255);
            match &r.data {
                RData::Cname(target) => assert!(target.len() <= 4 * 255),
                RData::Caa { tag, .. } => {
                    assert!(!tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric()))
                }
                _ => {}
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(range) = text.parse::<IpRange>() {
            assert_eq!(range.to_string().parse::<IpRange>(), Ok(range));
        }
        if let Ok(query) = build_query(0x4242, text, 16) {
            let parsed = parse_message(&query).expect("our own query parses");
            assert_eq!(parsed.id, 0x4242);
            assert_eq!(parsed.questions.len(), 1);
        }
    }
}
