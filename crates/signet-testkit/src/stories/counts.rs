//! The console dashboard's figures against a model kept by the story: requests by status,
//! issued per day, and certificates expiring in a window, after issuing, approving,
//! denying, revoking, holding and releasing in a mixed order. The stores keep these as
//! running counts (issue 21), so a change that forgets to move a count shows up here.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use signet_core::{RequestId, RequestStatus, Revocation, RevocationReason, StatisticsQuery, Store};

use super::FreshStore;
use super::builders::{ca, certificate, change, pending, t, update};

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;
/// Not on an hour: the expiring window then has partial hours at both ends.
const NOW: u64 = 1_800_000_000 + 1234;

/// What the story did to one request, and so what the figures must count.
struct Modelled {
    status: RequestStatus,
    resolved_at: Option<u64>,
    /// notAfter and whether the certificate is revoked (or on hold).
    certificate: Option<(u64, bool)>,
    serial: u64,
    version: u64,
}

/// A small deterministic generator (xorshift): the same mix of requests on every backend.
struct Mix(u64);

impl Mix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Offsets of notAfter from a window's ends, where the count's parts meet.
const EDGES: [i64; 9] = [-3601, -3600, -1, 0, 1, 3599, 3600, 3601, 7200];

/// Requests in every state and certificates ending on and around the window's hour
/// boundaries; the figures match the model at several `now`s, and another CA's requests
/// never count.
pub async fn dashboard_counts(fresh: impl Fn() -> FreshStore) {
    let fresh = fresh();
    let store = &*fresh.store;
    let ca = ca("counts");
    let mut mix = Mix(0x2545_f491_4f6c_dd1d);
    let mut model: HashMap<RequestId, Modelled> = HashMap::new();
    let window = 30 * DAY;
    let not_after = |mix: &mut Mix| -> u64 {
        let base = if mix.below(2) == 0 { NOW } else { NOW + window };
        let off = if mix.below(3) == 0 {
            mix.below(40 * DAY) as i64 - 5 * DAY as i64
        } else {
            EDGES[mix.below(EDGES.len() as u64) as usize]
        };
        base.saturating_add_signed(off)
    };

    for n in 1..=160u64 {
        let mut r = pending(&ca, n);
        let roll = mix.below(10);
        let mut m = Modelled {
            status: RequestStatus::Pending,
            resolved_at: None,
            certificate: None,
            serial: n,
            version: 0,
        };
        if roll < 5 {
            let at = NOW - mix.below(10 * DAY);
            let end = not_after(&mut mix);
            let mut cert = certificate(n, &format!("CN=host-{n}"), &[]);
            cert.not_after = t(end);
            r.status = RequestStatus::Issued;
            r.resolved_at = Some(t(at));
            r.certificate = Some(cert);
            (m.status, m.resolved_at, m.certificate) = (r.status, Some(at), Some((end, false)));
        } else if roll < 7 {
            let at = NOW - mix.below(3 * DAY);
            r.status = if roll == 5 {
                RequestStatus::Denied
            } else {
                RequestStatus::Failed
            };
            r.resolved_at = Some(t(at));
            (m.status, m.resolved_at) = (r.status, Some(at));
        }
        let id = store.create_request(r).await.expect("create a request");
        model.insert(id, m);
        // Another CA's twin, which must never count.
        let mut other = pending(&super::builders::ca("counts-other"), n);
        other.status = RequestStatus::Denied;
        other.resolved_at = Some(t(NOW));
        store
            .create_request(other)
            .await
            .expect("another CA's request");
    }

    let mut ids: Vec<RequestId> = model.keys().copied().collect();
    ids.sort();
    for id in ids {
        let m = model.get_mut(&id).expect("modelled");
        let roll = mix.below(6);
        match (m.status, roll) {
            (RequestStatus::Pending, 0 | 1) => {
                let at = NOW - mix.below(2 * DAY);
                let end = not_after(&mut mix);
                let mut issue = update(&ca, id, m.version, RequestStatus::Issued);
                let mut cert = certificate(m.serial, &format!("CN=host-{}", m.serial), &[]);
                cert.not_after = t(end);
                issue.resolved_at = Some(t(at));
                issue.certificate = Some(cert);
                store.update_request(issue).await.expect("approve");
                (m.status, m.resolved_at) = (RequestStatus::Issued, Some(at));
                m.certificate = Some((end, false));
                m.version += 1;
            }
            (RequestStatus::Pending, 2) => {
                let mut deny = update(&ca, id, m.version, RequestStatus::Denied);
                deny.resolved_at = Some(t(NOW));
                store.update_request(deny).await.expect("deny");
                (m.status, m.resolved_at) = (RequestStatus::Denied, Some(NOW));
                m.version += 1;
            }
            (RequestStatus::Issued, 0..=2) => {
                let hold = roll == 2;
                let revocation = Revocation {
                    at: t(NOW - HOUR),
                    reason: if hold {
                        RevocationReason::CertificateHold
                    } else {
                        RevocationReason::KeyCompromise
                    },
                    invalidity_date: None,
                };
                store
                    .change_revocation(change(
                        &ca,
                        m.serial,
                        id,
                        None,
                        Some(revocation),
                        NOW - HOUR,
                    ))
                    .await
                    .expect("revoke");
                m.status = RequestStatus::Revoked;
                if let Some(c) = m.certificate.as_mut() {
                    c.1 = true;
                }
                // Half the holds are released again.
                if hold && mix.below(2) == 0 {
                    let mut release = change(&ca, m.serial, id, Some(revocation), None, NOW - 60);
                    release.status = RequestStatus::Issued;
                    store.change_revocation(release).await.expect("release");
                    m.status = RequestStatus::Issued;
                    if let Some(c) = m.certificate.as_mut() {
                        c.1 = false;
                    }
                }
            }
            _ => {}
        }
    }

    for (now, within) in [
        (NOW, window),
        (NOW - NOW % HOUR, window),
        (NOW + 5 * DAY + 17, 10 * DAY + 1),
        (NOW, HOUR / 2),
        (NOW - 1, 2 * HOUR),
    ] {
        check(store, &ca, &model, now, within).await;
    }
}

/// The store's figures for `ca` at `now` equal the model's.
async fn check(
    store: &dyn Store,
    ca: &signet_core::CaName,
    model: &HashMap<RequestId, Modelled>,
    now: u64,
    within: u64,
) {
    let today = now - now % DAY;
    let chart_from = today - 6 * DAY;
    let stats = store
        .ca_statistics(StatisticsQuery {
            ca: ca.clone(),
            now: t(now),
            chart_from: t(chart_from),
            expiring_within: Duration::from_secs(within),
            expiring_list: 5,
        })
        .await
        .expect("statistics");

    for (status, n) in &stats.by_status {
        let want = model.values().filter(|m| m.status == *status).count() as u64;
        assert_eq!(*n, want, "{status:?} requests at now={now}");
    }
    let mut per_day: HashMap<u64, u64> = HashMap::new();
    for m in model.values() {
        if matches!(m.status, RequestStatus::Issued | RequestStatus::Revoked)
            && let Some(at) = m.resolved_at.filter(|at| *at >= chart_from)
        {
            *per_day.entry(at - at % DAY).or_default() += 1;
        }
    }
    for (day, n) in &stats.issued_per_day {
        let day = day
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(
            *n,
            per_day.get(&day).copied().unwrap_or(0),
            "issued on day {day} (now={now})"
        );
    }
    let expiring = model
        .values()
        .filter_map(|m| m.certificate)
        .filter(|(end, revoked)| !revoked && *end > now && *end <= now + within)
        .count() as u64;
    assert_eq!(
        stats.expiring,
        expiring,
        "expiring in ({now}, {}]",
        now + within
    );
}
