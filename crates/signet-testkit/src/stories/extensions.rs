//! Extensions: a request's extensions read back exactly as recorded (order, origin,
//! criticality, the disabled flag and every value byte), whether or not the request has a
//! certificate that carries some of them, across officer edits and issuance after approval.
//! (A backend may keep the values the certificate carries by reference to it; the stories
//! see only that nothing changes.)

use signet_core::{ExtensionOrigin, RequestStatus, StoredExtension};

use super::FreshStore;
use super::builders::{ca, certificate, get, issued, pending, serial, update};

/// A certificate made by `openssl req -x509` (SKI, AKI, SAN, critical BC and KU, EKU), as
/// DER, and its extensions as (OID, value).
fn openssl_certificate() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("cert.der");
    let key = dir.path().join("key.pem");
    let run = crate::openssl::run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        crate::openssl::path_str(&key),
        "-subj",
        "/CN=ext.example",
        "-days",
        "30",
        "-addext",
        "subjectAltName=DNS:ext.example",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-outform",
        "DER",
        "-out",
        crate::openssl::path_str(&out),
    ]);
    assert!(run.status.success(), "openssl req: {run:?}");
    let der = std::fs::read(&out).expect("reading the certificate");
    let info = signet_x509::parse_certificate(&der).expect("openssl's certificate parses");
    let exts = info
        .extensions
        .into_iter()
        .map(|e| (e.oid, e.value))
        .collect();
    (der, exts)
}

fn ext(
    oid: &str,
    origin: ExtensionOrigin,
    critical: bool,
    disabled: bool,
    value: &[u8],
) -> StoredExtension {
    StoredExtension {
        oid: oid.into(),
        critical,
        disabled,
        origin,
        value: value.to_vec(),
    }
}

/// An issued request whose extensions are mostly the certificate's own (some disabled, one
/// an officer's, one the certificate has with another value, one it lacks) reads back
/// identical, by id, by serial and in a list; a pending request with the same extensions
/// does too, after an officer's edit, after issuance with a certificate, and after an edit
/// of the issued request.
pub async fn request_extensions(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("extensions");
    let (der, in_cert) = openssl_certificate();
    let value = |oid: &str| -> Vec<u8> {
        in_cert
            .iter()
            .find(|(o, _)| o == oid)
            .unwrap_or_else(|| panic!("openssl's certificate has {oid}"))
            .1
            .clone()
    };
    let (san, bc, ku, eku, ski) = (
        "2.5.29.17",
        "2.5.29.19",
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.14",
    );
    let extensions = vec![
        // The requester's SAN, disabled, with the value the certificate has.
        ext(san, ExtensionOrigin::Request, false, true, &value(san)),
        // A requested extension the certificate lacks, disabled.
        ext(
            "1.3.6.1.4.1.55555.2",
            ExtensionOrigin::Request,
            true,
            true,
            &[0x0c, 0x03, b'a', b'b', b'c'],
        ),
        ext(bc, ExtensionOrigin::Server, true, false, &value(bc)),
        ext(ku, ExtensionOrigin::Policy, true, false, &value(ku)),
        ext(san, ExtensionOrigin::Policy, false, false, &value(san)),
        // An officer's edit.
        ext(eku, ExtensionOrigin::Admin, false, false, &value(eku)),
        // A value other than the certificate's for an OID it has.
        ext(
            ski,
            ExtensionOrigin::Server,
            false,
            false,
            &[0x04, 0x01, 0x00],
        ),
        // An empty value.
        ext("1.2.3.4", ExtensionOrigin::Admin, false, true, &[]),
    ];

    // Issued at once, with the certificate.
    let mut req = issued(&ca, 1, 1);
    req.extensions = extensions.clone();
    if let Some(c) = &mut req.certificate {
        c.der = der.clone();
    }
    let id = store.create_request(req).await.expect("create issued");
    let got = get(store, &ca, id).await;
    assert_eq!(got.extensions, extensions, "an issued request's extensions");
    assert_eq!(got.certificate.expect("certificate").der, der);
    let by_serial = store
        .request_by_serial(&ca, serial(1))
        .await
        .expect("by serial")
        .expect("found");
    assert_eq!(by_serial.extensions, extensions, "read by serial");
    let listed = store.list_requests(&ca, None, 10).await.expect("list");
    assert_eq!(listed[0].extensions, extensions, "read in a list");

    // Pending: every value is the request's own.
    let mut req = pending(&ca, 2);
    req.extensions = extensions.clone();
    let id = store.create_request(req).await.expect("create pending");
    assert_eq!(get(store, &ca, id).await.extensions, extensions, "pending");

    // An officer edits the pending request: the EKU disabled, a new admin extension.
    let mut edited = extensions.clone();
    edited[5].disabled = true;
    edited.push(ext(
        "1.3.6.1.4.1.311.21.10",
        ExtensionOrigin::Admin,
        false,
        false,
        &[0x30, 0x00],
    ));
    let mut u = update(&ca, id, 0, RequestStatus::Pending);
    u.extensions = Some(edited.clone());
    store.update_request(u).await.expect("edit");
    assert_eq!(
        get(store, &ca, id).await.extensions,
        edited,
        "after an edit"
    );

    // Approved and issued: the certificate comes, the extensions stay as they were.
    let mut u = update(&ca, id, 1, RequestStatus::Issued);
    let mut cert = certificate(2, "CN=ext.example", &["ext.example"]);
    cert.der = der.clone();
    u.certificate = Some(cert);
    store.update_request(u).await.expect("issue");
    let got = get(store, &ca, id).await;
    assert_eq!(got.extensions, edited, "after issuance");
    assert_eq!(got.status, RequestStatus::Issued);

    // An edit of the issued request (the EKU enabled again, one extension removed).
    let mut again = edited.clone();
    again[5].disabled = false;
    again.remove(1);
    let mut u = update(&ca, id, 2, RequestStatus::Issued);
    u.extensions = Some(again.clone());
    store.update_request(u).await.expect("edit issued");
    assert_eq!(
        get(store, &ca, id).await.extensions,
        again,
        "after a later edit"
    );

    // No extensions at all, with and without a certificate.
    let mut req = issued(&ca, 3, 3);
    if let Some(c) = &mut req.certificate {
        c.der = der.clone();
    }
    let id = store.create_request(req).await.expect("create bare");
    assert!(get(store, &ca, id).await.extensions.is_empty());
}
