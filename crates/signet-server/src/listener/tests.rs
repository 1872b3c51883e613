//! Unit tests of the connection caps and deadlines.

use super::*;

fn limits(max: usize, per_address: usize, reserved: usize) -> Limits {
    Limits {
        max_connections: max,
        max_per_address: per_address,
        reserved,
        ..Limits::default()
    }
}

#[test]
fn caps_count_per_address_and_keep_a_reserve() {
    let c = Connections::new(limits(4, 2, 1)).expect("limits");
    let a: IpAddr = "192.0.2.1".parse().expect("ip");
    let b: IpAddr = "192.0.2.2".parse().expect("ip");
    let first = c.admit(a).expect("first");
    let _second = c.admit(a).expect("second");
    assert!(c.admit(a).is_none(), "third from one address");
    let (_third, admission) = c.admit(b).expect("other address");
    assert_eq!(admission, Admission::Full);
    let (_fourth, admission) = c.admit(b).expect("the reserve");
    assert_eq!(admission, Admission::Reserve);
    assert!(c.admit("192.0.2.3".parse().expect("ip")).is_none(), "full");
    drop(first);
    assert!(c.admit(a).is_some(), "a slot given back is free again");
    assert!(
        c.open.lock().expect("lock").by_address.len() <= 2,
        "only open addresses are kept"
    );
}

#[test]
fn ipv6_addresses_count_by_prefix() {
    let a = AddressKey::of("2001:db8:1:2::1".parse().expect("ip"));
    let b = AddressKey::of("2001:db8:1:2:ffff::9".parse().expect("ip"));
    let c = AddressKey::of("2001:db8:1:3::1".parse().expect("ip"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(
        AddressKey::of("::ffff:192.0.2.1".parse().expect("ip")),
        AddressKey::of("192.0.2.1".parse().expect("ip"))
    );
}

#[test]
fn limits_are_checked() {
    assert!(Connections::new(limits(4, 4, 4)).is_err());
    assert!(Connections::new(limits(0, 4, 0)).is_err());
    assert!(
        Connections::new(Limits {
            header_timeout: Duration::ZERO,
            ..Limits::default()
        })
        .is_err()
    );
}
