//! Distinguished name strings <-> DER.
#![allow(clippy::unwrap_used)]

use signet_x509::{DistinguishedName, Error};

fn attrs(s: &str) -> Vec<(String, String)> {
    DistinguishedName::parse(s).unwrap().attributes()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn round_trips(s: &str) -> DistinguishedName {
    let dn = DistinguishedName::parse(s).unwrap();
    let shown = dn.to_string();
    let again = DistinguishedName::parse(&shown).unwrap();
    assert_eq!(again, dn, "{s:?} -> {shown:?}");
    assert_eq!(DistinguishedName::from_der(dn.as_der()).unwrap(), dn);
    dn
}

#[test]
fn string_order_is_der_order() {
    let dn = round_trips("C=US,O=Example Corp,CN=demo");
    assert_eq!(dn.to_string(), "C=US,O=Example Corp,CN=demo");
    assert_eq!(
        dn.attributes(),
        pairs(&[("C", "US"), ("O", "Example Corp"), ("CN", "demo")])
    );
    // The OpenSSL form is the same name.
    assert_eq!(
        DistinguishedName::parse("/C=US/O=Example Corp/CN=demo").unwrap(),
        dn
    );
    // Exact DER: C PrintableString first, then UTF8Strings.
    let expected: &[u8] = &[
        0x30, 0x33, //
        0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'U', b'S', //
        0x31, 0x15, 0x30, 0x13, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0c, b'E', b'x', b'a', b'm',
        b'p', b'l', b'e', b' ', b'C', b'o', b'r', b'p', //
        0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b'd', b'e', b'm', b'o',
    ];
    assert_eq!(dn.as_der(), expected);
    // Reversed string, reversed DER.
    let rev = DistinguishedName::parse("CN=demo,O=Example Corp,C=US").unwrap();
    assert_eq!(rev.attributes()[0], ("CN".to_string(), "demo".to_string()));
    assert_ne!(rev, dn);
}

#[test]
fn all_attribute_types_and_encodings() {
    let dn = round_trips(
        "C=DE,ST=Bayern,L=München,O=Ex,OU=IT,CN=n,SERIALNUMBER=A-12,DC=example,\
         emailAddress=a@example.com,UID=u1,street=Main 1,title=Dr,GN=Ann,SN=Lee,2.5.4.97=VATDE-1",
    );
    assert_eq!(
        dn.attributes(),
        pairs(&[
            ("C", "DE"),
            ("ST", "Bayern"),
            ("L", "München"),
            ("O", "Ex"),
            ("OU", "IT"),
            ("CN", "n"),
            ("SERIALNUMBER", "A-12"),
            ("DC", "example"),
            ("emailAddress", "a@example.com"),
            ("UID", "u1"),
            ("street", "Main 1"),
            ("title", "Dr"),
            ("GN", "Ann"),
            ("SN", "Lee"),
            ("2.5.4.97", "VATDE-1"),
        ])
    );
    let der = dn.as_der();
    let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"\x13\x02DE"));
    assert!(has(b"\x13\x04A-12"));
    assert!(has(b"\x16\x07example"));
    assert!(has(b"\x16\x0da@example.com"));
    assert!(has("\x0c\x08München".as_bytes()));
    // Aliases and case-insensitive types.
    assert_eq!(attrs("E=a@b.c,cn=x,commonName=y")[0].0, "emailAddress");
    assert_eq!(
        attrs("E=a@b.c,cn=x,commonName=y")[2],
        ("CN".into(), "y".into())
    );
}

#[test]
fn escapes_and_spaces() {
    assert_eq!(
        attrs(r"CN=a\,b,O=x\+y\;z\\w\=v"),
        pairs(&[("CN", "a,b"), ("O", r"x+y;z\w=v")])
    );
    assert_eq!(attrs(r"CN=\23hash"), pairs(&[("CN", "#hash")]));
    assert_eq!(attrs(r"CN=\C3\A9t\C3\A9"), pairs(&[("CN", "été")]));
    assert_eq!(
        attrs(r"CN=\ lead and trail\ "),
        pairs(&[("CN", " lead and trail ")])
    );
    assert_eq!(
        attrs(" CN = spaced , O = out "),
        pairs(&[("CN", "spaced"), ("O", "out")])
    );
    assert_eq!(
        attrs(r"/CN=a\/b/O=c,d"),
        pairs(&[("CN", "a/b"), ("O", "c,d")])
    );
    for s in [
        r"CN=a\,b,O=x\+y",
        r"CN=\#hash",
        r"CN=\ x\ ",
        "CN=été,O=\"quoted\"<>;=",
        "CN=tab\there",
        "CN=a/b",
    ] {
        round_trips(s);
    }
    let dn = DistinguishedName::parse(r"CN=\ x\ ,O=a\,b").unwrap();
    assert_eq!(dn.to_string(), r"CN=\ x\ ,O=a\,b");
}

#[test]
fn multi_valued_rdns() {
    let dn = round_trips("O=Example,CN=John+UID=42");
    assert_eq!(dn.to_string().matches('+').count(), 1);
    // Both orders give the same DER (SET OF is sorted).
    assert_eq!(
        DistinguishedName::parse("O=Example,UID=42+CN=John").unwrap(),
        dn
    );
    assert_eq!(
        DistinguishedName::parse("/O=Example/CN=John+UID=42").unwrap(),
        dn
    );
    // Two RDNs, not three.
    let der = dn.as_der();
    assert_eq!(der.iter().filter(|&&b| b == 0x31).count(), 2);
}

#[test]
fn hex_values_and_other_string_types() {
    // An OCTET STRING value is not text: it prints as #hex and parses back byte for byte.
    let dn = round_trips("1.2.3.4=#0403010203,CN=x");
    assert_eq!(dn.to_string(), "1.2.3.4=#0403010203,CN=x");
    // BMPString, TeletexString, UniversalString and PrintableString values decode to text.
    let atv = |tag: u8, v: &[u8]| {
        let mut a = vec![0x06, 0x03, 0x55, 0x04, 0x03, tag, v.len() as u8];
        a.extend_from_slice(v);
        let mut s = vec![0x30, a.len() as u8];
        s.extend_from_slice(&a);
        let mut set = vec![0x31, s.len() as u8];
        set.extend_from_slice(&s);
        set
    };
    let mut content = Vec::new();
    for part in [
        atv(0x1e, &[0x00, b'h', 0x00, 0xe9]),
        atv(0x14, &[b'l', 0xe9]),
        atv(0x1c, &[0, 0, 0, b'u', 0, 0x01, 0xf6, 0x00]),
        atv(0x13, b"p s"),
    ] {
        content.extend_from_slice(&part);
    }
    let mut der = vec![0x30, content.len() as u8];
    der.extend_from_slice(&content);
    let dn = DistinguishedName::from_der(&der).unwrap();
    assert_eq!(
        dn.attributes(),
        pairs(&[
            ("CN", "hé"),
            ("CN", "lé"),
            ("CN", "u\u{1f600}"),
            ("CN", "p s")
        ])
    );
    assert_eq!(dn.common_name().as_deref(), Some("hé"));
}

#[test]
fn empty_name() {
    let dn = DistinguishedName::parse("").unwrap();
    assert!(dn.is_empty());
    assert_eq!(dn, DistinguishedName::empty());
    assert_eq!(dn.to_string(), "");
    assert!(dn.attributes().is_empty());
}

#[test]
fn bad_strings_are_invalid() {
    for s in [
        "CN",
        "=x",
        "CN=",
        "CN=a,,O=b",
        "CN=a,",
        "CN=a+",
        "C=USA",
        "C=U1",
        "XX=foo",
        "1.2.x=foo",
        "DC=exämple",
        "SERIALNUMBER=a_b",
        "CN=a\\",
        "CN=\\C3",
        "1.2.3=#zz",
        "1.2.3=#0403",
        "1.2.3=#0403010203 trailing",
        "/CN=a//O=b",
    ] {
        match DistinguishedName::parse(s) {
            Err(Error::Invalid { .. }) => {}
            other => panic!("{s:?}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn from_der_rejects_garbage() {
    for der in [
        &b""[..],
        &[0x30, 0x01],
        &[0x31, 0x00],
        &[0x30, 0x02, 0x31, 0x00],
        &[0x30, 0x00, 0x00],
        &[0x30, 0x04, 0x31, 0x02, 0x30, 0x00],
    ] {
        assert!(
            matches!(
                DistinguishedName::from_der(der),
                Err(Error::Malformed { .. })
            ),
            "{der:02x?}"
        );
    }
}
