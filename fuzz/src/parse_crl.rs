//! `crl::parse_crl` on arbitrary bytes: errors, never panics (`signet` reads CRLs for display
//! and tests; relying-party tooling may feed it anything).

/// The target's body: one input, checked as described above.
pub fn run(data: &[u8]) {
    if let Ok(info) = signet_x509::crl::parse_crl(data) {
        let _ = info.distribution_point();
        assert!(info.tbs.len() < data.len());
    }
}
