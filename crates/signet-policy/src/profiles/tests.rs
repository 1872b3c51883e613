use super::*;

fn profile(extra: &str) -> Profile {
    let text = format!(
        r#"
approval = "auto"
validity_days = 30
key_algorithms = ["p256", "rsa"]
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth"]
common_name_as_dns = true
dns_suffixes = ["example.com"]
ip_ranges = ["10.0.0.0/8", "::1/128"]
{extra}
"#
    );
    let config: ProfileConfig = toml::from_str(&text).expect("profile parses");
    Profile::new("server", config).expect("profile is valid")
}

#[test]
fn cidr_matching() {
    let c = Cidr::parse("10.0.0.0/8").expect("cidr");
    assert!(c.contains(&"10.255.1.2".parse().expect("ip")));
    assert!(!c.contains(&"11.0.0.1".parse().expect("ip")));
    assert!(!c.contains(&"::1".parse().expect("ip")));
    assert!(
        Cidr::parse("0.0.0.0/0")
            .expect("any")
            .contains(&"1.2.3.4".parse().expect("ip"))
    );
    assert!(Cidr::parse("10.0.0.0/33").is_none());
}

#[test]
fn dns_rules_name_the_offending_value() {
    let p = profile("");
    assert!(p.check_dns("www.example.com").is_ok());
    assert!(p.check_dns("example.com").is_ok());
    let e = p
        .check_dns("evil-example.com")
        .expect_err("not a suffix match");
    assert!(e.to_string().contains("evil-example.com"), "{e}");
    assert!(
        p.check_dns("*.example.com")
            .expect_err("wildcards off")
            .to_string()
            .contains("wildcard")
    );
    assert!(p.check_dns("bad_label.example.com").is_err());
    let p = profile("allow_wildcards = true");
    assert!(p.check_dns("*.example.com").is_ok());
}

#[test]
fn sans_are_checked_and_cn_is_added() {
    let p = profile("");
    let subject = DistinguishedName::parse("CN=www.example.com").expect("dn");
    let sans = p
        .sans(&subject, &[San::Ip("10.1.2.3".parse().expect("ip"))])
        .expect("allowed");
    assert_eq!(sans.len(), 2);
    let e = p
        .sans(&subject, &[San::Email("a@example.com".into())])
        .expect_err("e-mail not allowed");
    assert!(e.to_string().contains("a@example.com"), "{e}");
    let e = p
        .sans(&subject, &[San::Ip("192.168.1.1".parse().expect("ip"))])
        .expect_err("ip");
    assert!(e.to_string().contains("192.168.1.1"), "{e}");
}

#[test]
fn subject_attributes_outside_the_profile_are_refused() {
    let p = profile("");
    let dn = DistinguishedName::parse("O=Evil Corp,CN=www.example.com").expect("dn");
    let e = p.subject(&dn).expect_err("O is not allowed");
    assert!(e.to_string().contains("O=Evil Corp"), "{e}");
}

#[test]
fn keys_are_checked() {
    let p = profile("");
    assert!(p.check_key(KeyAlgorithm::P256).is_ok());
    assert!(
        p.check_key(KeyAlgorithm::Ed25519)
            .expect_err("ed25519")
            .to_string()
            .contains("ed25519")
    );
    assert!(p.check_key(KeyAlgorithm::Rsa { bits: 2048 }).is_ok());
    let p = profile("rsa_min_bits = 3072");
    assert!(
        p.check_key(KeyAlgorithm::Rsa { bits: 2048 })
            .expect_err("small")
            .to_string()
            .contains("2048")
    );
}

#[test]
fn key_encipherment_only_for_rsa() {
    let p = profile("");
    assert!(
        !p.key_usage_for(KeyAlgorithm::P256)
            .contains(KeyUsage::KEY_ENCIPHERMENT)
    );
    assert!(
        p.key_usage_for(KeyAlgorithm::Rsa { bits: 2048 })
            .contains(KeyUsage::KEY_ENCIPHERMENT)
    );
}

#[test]
fn bad_configuration_is_refused() {
    let bad = [
        "approval = \"auto\"\nvalidity_days = 0\nkey_algorithms=[\"p256\"]\nkey_usage=[]\nextended_key_usage=[\"serverAuth\"]",
        "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"dsa\"]\nkey_usage=[]\nextended_key_usage=[\"serverAuth\"]",
        "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\"]\nkey_usage=[\"keyCertSign\"]\nextended_key_usage=[\"serverAuth\"]",
        "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\"]\nkey_usage=[]\nextended_key_usage=[]",
    ];
    for text in bad {
        let config: ProfileConfig = toml::from_str(text).expect("parses");
        assert!(Profile::new("x", config).is_err(), "{text}");
    }
}

#[test]
fn subjects_with_two_cns_or_oversized_values_are_refused() {
    let p = profile("");
    let two = DistinguishedName::parse("CN=www.example.com,CN=evil.com").expect("dn");
    assert!(
        p.subject(&two)
            .expect_err("two CNs")
            .to_string()
            .contains("more than one CN")
    );
    let long = DistinguishedName::parse(&format!("CN={}", "a".repeat(65))).expect("dn");
    assert!(
        p.subject(&long)
            .expect_err("65 chars")
            .to_string()
            .contains("1 to 64")
    );
}

#[test]
fn email_and_uri_allow_lists_match_whole_hosts() {
    let p =
        profile("email_domains = [\"Example.com\"]\nuri_prefixes = [\"https://example.com/app\"]");
    for ok in ["a@example.com", "b@mail.example.com"] {
        assert!(p.check_san(&San::Email(ok.into())).is_ok(), "{ok}");
    }
    for bad in [
        "@example.com",
        "a@evil-example.com",
        "a@b@example.com",
        "a@.example.com",
    ] {
        assert!(p.check_san(&San::Email(bad.into())).is_err(), "{bad}");
    }
    for ok in [
        "https://example.com/app",
        "https://EXAMPLE.com/app/x",
        "https://example.com/app?q",
    ] {
        assert!(p.check_san(&San::Uri(ok.into())).is_ok(), "{ok}");
    }
    for bad in [
        "https://example.com.evil.net/app",
        "https://example.com@evil.net/app",
        "https://user@example.com/app",
        "https://example.com/apple",
        "http://example.com/app",
        "https://example.com:444/app",
    ] {
        assert!(p.check_san(&San::Uri(bad.into())).is_err(), "{bad}");
    }
}

#[test]
fn requested_extensions_beyond_the_profile_are_refused() {
    let p = profile("");
    let usage = p.key_usage_for(KeyAlgorithm::P256);
    let eku = |names: &[&str]| {
        let oids: Vec<String> = names.iter().filter_map(|n| ext::eku_oid(n)).collect();
        ext::extended_key_usage(&oids).expect("eku")
    };
    assert!(
        p.check_requested_extensions(&[eku(&["serverAuth"])], usage)
            .is_ok()
    );
    let e = p.check_requested_extensions(&[eku(&["serverAuth", "codeSigning"])], usage);
    assert!(
        e.expect_err("codeSigning")
            .to_string()
            .contains("1.3.6.1.5.5.7.3.3")
    );
    let ca = ext::basic_constraints(true, None);
    assert!(
        p.check_requested_extensions(&[ca], usage)
            .expect_err("CA")
            .to_string()
            .contains("CA")
    );
    let ku = ext::key_usage(KeyUsage::DIGITAL_SIGNATURE.union(KeyUsage::KEY_ENCIPHERMENT));
    assert!(
        p.check_requested_extensions(std::slice::from_ref(&ku), usage)
            .is_err()
    );
    let critical = signet_x509::Extension {
        oid: "1.2.3.4".into(),
        critical: true,
        value: vec![5, 0],
    };
    assert!(p.check_requested_extensions(&[critical], usage).is_err());
    let harmless = signet_x509::Extension {
        oid: "1.2.3.4".into(),
        critical: false,
        value: vec![5, 0],
    };
    assert!(p.check_requested_extensions(&[harmless], usage).is_ok());
}

#[test]
fn allow_lists_are_normalised_and_checked_at_load() {
    let p = profile("email_domains = [\"Example.COM\"]");
    assert!(p.check_san(&San::Email("a@example.com".into())).is_ok());
    for bad in [
        "dns_suffixes = [\".example.com\"]",
        "dns_suffixes = [\"example.com.\"]",
        "uri_prefixes = [\"example.com\"]",
    ] {
        let text = format!(
            "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\"]\nkey_usage=[\"digitalSignature\"]\nextended_key_usage=[\"serverAuth\"]\n{bad}"
        );
        let config: ProfileConfig = toml::from_str(&text).expect("parses");
        assert!(Profile::new("x", config).is_err(), "{bad}");
    }
}

#[test]
fn eddsa_keys_get_no_key_agreement() {
    let text = "approval = \"auto\"\nvalidity_days = 1\nkey_algorithms=[\"p256\", \"ed25519\"]\nkey_usage=[\"keyAgreement\"]\nextended_key_usage=[\"clientAuth\"]";
    let config: ProfileConfig = toml::from_str(text).expect("parses");
    let p = Profile::new("x", config).expect("valid");
    assert_eq!(p.key_usage_for(KeyAlgorithm::Ed25519), KeyUsage::default());
    assert_eq!(p.key_usage_for(KeyAlgorithm::P256), KeyUsage::KEY_AGREEMENT);
}

#[test]
fn forced_attributes_are_placed_in_order_and_must_match() {
    let p = profile(
        "subject_attributes = [\"CN\", \"OU\"]\nsubject_forced = { O = \"Example, Corp\", C = \"US\" }",
    );
    let dn = DistinguishedName::parse("CN=www.example.com,OU=Web").expect("dn");
    let issued = p.subject(&dn).expect("allowed");
    assert_eq!(
        issued.to_string(),
        "C=US,O=Example\\, Corp,OU=Web,CN=www.example.com"
    );
    let same = DistinguishedName::parse("O=Example\\, Corp,CN=www.example.com").expect("dn");
    assert!(p.subject(&same).is_ok());
    let other = DistinguishedName::parse("O=Evil,CN=www.example.com").expect("dn");
    assert!(
        p.subject(&other)
            .expect_err("O differs")
            .to_string()
            .contains("O=Evil")
    );
}

#[test]
fn backdate_settings_parse() {
    // The old spellings: an integer or a bare number is seconds, and one unit.
    for (text, secs) in [("7", 7), ("\"90\"", 90), ("\"5m\"", 300), ("\"1h\"", 3600)] {
        let p = profile(&format!("backdate = {text}"));
        assert_eq!(p.backdate, Some(Duration::from_secs(secs)), "{text}");
    }
    let refused = |text: &str| {
        let config: ProfileConfig = toml::from_str(&format!(
            "approval = \"auto\"\nvalidity_days = 30\nkey_algorithms = [\"p256\"]\nkey_usage = [\"digitalSignature\"]\nextended_key_usage = [\"serverAuth\"]\nbackdate = {text}"
        ))
        .expect("parses");
        Profile::new("x", config).expect_err(text)
    };
    assert!(matches!(
        refused("\"5 minutes\""),
        ProfileError::Backdate(_)
    ));
    assert!(matches!(refused("\"m\""), ProfileError::Backdate(_)));
    // The grammar has milliseconds; a certificate's times have whole seconds.
    let fraction = refused("\"500ms\"");
    let cause = std::error::Error::source(&fraction)
        .expect("a cause")
        .to_string();
    assert!(cause.contains("write seconds or more"), "{cause}");
    assert!(
        refused("90000")
            .to_string()
            .contains("write at most \"24h\"")
    );
}

#[test]
fn managed_and_malformed_extension_oids_are_refused() {
    assert!(check_extension_oid("k", "1.3.6.1.4.1.55555.1").is_ok());
    for bad in [
        "2.5.29.17",
        "2.5.29.30",
        "1.3.6.1.5.5.7.1.1",
        "3.1",
        "1.02",
        "1",
    ] {
        assert!(check_extension_oid("k", bad).is_err(), "{bad}");
    }
}
