//! The console's dashboard page.

use super::*;

pub(super) struct StatusCard {
    pub(super) status: &'static str,
    pub(super) count: u64,
    pub(super) href: String,
}

pub(super) struct ChartBar {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) height: u32,
    pub(super) label: String,
    pub(super) count: u64,
}

pub(super) struct ExitHealth {
    pub(super) name: String,
    pub(super) lag: u64,
    pub(super) attempts: u32,
    pub(super) parked: u64,
    pub(super) last_error: Option<String>,
}

pub(super) struct ExpiringRow {
    pub(super) serial: String,
    pub(super) subject: String,
    pub(super) not_after: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
pub(super) struct DashboardPage {
    pub(super) chrome: Chrome,
    pub(super) nav: Nav,
    pub(super) notice: Option<Notice>,
    pub(super) cards: Vec<StatusCard>,
    pub(super) bars: Vec<ChartBar>,
    pub(super) chart_max: u64,
    pub(super) issued_30d: u64,
    pub(super) chart_from: String,
    pub(super) chart_to: String,
    pub(super) expiring: u64,
    pub(super) expiring_rows: Vec<ExpiringRow>,
    pub(super) exits: Vec<ExitHealth>,
    pub(super) next_crl: Option<String>,
    pub(super) last_crl: Option<u64>,
}

/// Chart geometry: the SVG's drawing area (viewBox units).
pub(super) const CHART_W: u32 = 900;
pub(super) const CHART_H: u32 = 140;

pub(super) async fn dashboard(
    State(state): State<AppState>,
    user: WebUser,
    PageCaPath { ca, .. }: PageCaPath,
) -> Result<Response, PageError> {
    let who = Some(&user.identity);
    let stats = state
        .admin
        .statistics(
            who,
            &ca,
            StatisticsSpec {
                chart_days: crate::web::CHART_DAYS,
                expiring_within: EXPIRING_WITHIN,
                expiring_list: 10,
            },
        )
        .await?;
    let nav = nav(&state, &ca);
    let base = ca_path(&nav.ca);
    let cards = stats
        .by_status
        .iter()
        .map(|(status, count)| StatusCard {
            status: status.as_str(),
            count: *count,
            href: match status {
                RequestStatus::Pending => format!("{base}/pending"),
                s => format!("{base}/certificates?status={}", s.as_str()),
            },
        })
        .collect();
    let chart_max = stats
        .issued_per_day
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let bars = chart_bars(&stats.issued_per_day, chart_max);
    let day = |t: Option<&(SystemTime, u64)>| {
        t.map(|(t, _)| fmt_time(*t).chars().take(10).collect())
            .unwrap_or_default()
    };
    let expiring_rows = stats
        .expiring_soonest
        .iter()
        .map(|c| ExpiringRow {
            serial: c.serial.to_hex(),
            subject: c.subject.clone(),
            not_after: fmt_time(c.not_after),
        })
        .collect();
    let exits = state
        .admin
        .exit_status(who, &ca)
        .await?
        .into_iter()
        .map(|e| ExitHealth {
            lag: e.lag(),
            name: e.exit,
            attempts: e.state.attempts,
            parked: e.state.parked,
            last_error: e.state.last_error.filter(|_| e.state.attempts > 0),
        })
        .collect();
    let crls = state.admin.list_crls(who, &ca, 20).await?;
    let newest_full = crls.iter().find(|c| c.delta_base.is_none());
    let page = DashboardPage {
        chrome: chrome(format!("{} · Dashboard", nav.ca), "admin-dashboard", &user),
        notice: None,
        cards,
        issued_30d: stats.issued_per_day.iter().map(|(_, n)| n).sum(),
        chart_from: day(stats.issued_per_day.first()),
        chart_to: day(stats.issued_per_day.last()),
        bars,
        chart_max,
        expiring: stats.expiring,
        expiring_rows,
        exits,
        next_crl: newest_full.map(|c| fmt_time(c.next_update)),
        last_crl: newest_full.map(|c| c.number),
        nav,
    };
    Ok(render(&page))
}

/// One bar per day, scaled so the busiest day fills the chart (at least 2 units high when
/// non-zero, so a single issuance is visible).
pub(super) fn chart_bars(days: &[(SystemTime, u64)], max: u64) -> Vec<ChartBar> {
    let n = u32::try_from(days.len().max(1)).unwrap_or(u32::MAX);
    let slot = CHART_W / n;
    days.iter()
        .zip(0u32..)
        .map(|((day, count), i)| {
            let height = (u64::from(CHART_H) * count)
                .checked_div(max)
                .map_or(0, |h| u32::try_from(h).unwrap_or(CHART_H))
                .max(u32::from(*count > 0) * 2)
                .min(CHART_H);
            ChartBar {
                x: i * slot + 1,
                y: CHART_H - height,
                height,
                label: fmt_time(*day).chars().take(10).collect(),
                count: *count,
            }
        })
        .collect()
}
