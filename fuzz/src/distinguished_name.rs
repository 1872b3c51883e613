//! `DistinguishedName::from_der` on arbitrary bytes and `DistinguishedName::parse` on arbitrary
//! UTF-8: errors, never panics (subjects come from requests; DN strings from operators and
//! profiles).
//!
//! Round trips checked:
//! - A string that `parse` accepts gives DER that `from_der` accepts, and printing that name
//!   and parsing the text gives the same DER: names Signet writes survive their text form.
//! - A DER name that `from_der` accepts prints as text; once that text has been parsed, the
//!   result is a fixed point of print-then-parse.
//! - With `--features strict`: the documented promise of `Display`, that
//!   `parse(&dn.to_string())` reproduces `dn` byte for byte for every decodable `dn`. The
//!   library does not keep it today (README.md, "Known findings"), so it is opt-in.

use signet_x509::DistinguishedName;

/// The target's body: one input, checked as described above, without the `strict`
/// invariants.
pub fn run(data: &[u8]) {
    check(data, false);
}

/// The target's body with the `strict` invariants (README.md, "Known findings").
pub fn run_strict(data: &[u8]) {
    check(data, true);
}

fn check(data: &[u8], strict: bool) {
    if let Ok(dn) = DistinguishedName::from_der(data) {
        assert_eq!(dn.as_der(), data, "from_der changed the DER");
        let text = dn.to_string();
        let _ = (dn.attributes(), dn.common_name(), format!("{dn:?}"));

        let reparsed = DistinguishedName::parse(&text);
        if strict {
            match &reparsed {
                Ok(back) => assert_eq!(
                    back.as_der(),
                    data,
                    "parse(to_string) changed the DER; text {text:?}"
                ),
                Err(e) => panic!("parse(to_string) failed: {e}; text {text:?}"),
            }
        }
        if let Ok(back) = reparsed {
            assert_fixed_point(&back);
        }
    }

    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(dn) = DistinguishedName::parse(s)
    {
        DistinguishedName::from_der(dn.as_der()).expect("parse wrote DER that from_der rejects");
        let _ = (dn.attributes(), dn.common_name());
        // One pass through parse may normalise (sort multi-valued RDNs, pick string types);
        // the first fixed-point check compares against that normalised DER.
        let printed = DistinguishedName::parse(&dn.to_string());
        if strict {
            match &printed {
                Ok(back) => assert_eq!(
                    back.as_der(),
                    dn.as_der(),
                    "parse(parse(s).to_string()) differs from parse(s); s {s:?}"
                ),
                Err(e) => panic!("parse(parse(s).to_string()) failed: {e}; s {s:?}"),
            }
        }
        if let Ok(back) = printed {
            assert_fixed_point(&back);
        }
    }
}

/// `dn` came out of `parse`, so printing it and parsing the text must give it back exactly.
fn assert_fixed_point(dn: &DistinguishedName) {
    let text = dn.to_string();
    match DistinguishedName::parse(&text) {
        Ok(again) => assert_eq!(
            again.as_der(),
            dn.as_der(),
            "print-then-parse is not a fixed point; text {text:?}"
        ),
        Err(e) => panic!("parse rejected the text of a name it wrote: {e}; text {text:?}"),
    }
}
