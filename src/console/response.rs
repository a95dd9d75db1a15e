//! The dashboard's response figures (issue 15, "response times"): how
//! many of the conversations an account sees wait for the seller side's
//! answer, how many longer than their queue's target, and the median
//! time to the first answer by month (`crate::store::ResponseStore`).

use serde_json::json;

use super::pages::month_label;
use crate::http::AppState;
use crate::http::viewer::Acting;
use crate::outbox::compose::view::duration;
use crate::store::Targets;

/// The dashboard's response figures for what `acting` sees: tickets
/// waiting on the seller side, how many overdue, and the median first
/// response of the tickets opened in each month the page shows. `null`
/// when the store cannot say (the page shows without them).
pub(super) async fn figures(
    state: &AppState,
    acting: &Acting,
    targets: &Targets,
    now: i64,
    groups: &[serde_json::Value],
) -> serde_json::Value {
    let months: Vec<&str> = groups.iter().filter_map(|g| g["month"].as_str()).collect();
    let since = months
        .iter()
        .filter_map(|m| jiff::civil::Date::strptime("%Y-%m-%d", format!("{m}-01")).ok())
        .min()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(now, |z| z.timestamp().as_millisecond());
    let stats = match state
        .store()
        .response_stats(acting.viewer(), targets, now, since)
        .await
    {
        Ok(stats) => stats,
        Err(e) => {
            tracing::warn!(error = %e, "console: no response figures");
            return serde_json::Value::Null;
        }
    };
    let medians: Vec<serde_json::Value> = months
        .iter()
        .filter_map(|m| {
            let (median, answered) = stats.first_response.get(*m)?;
            Some(json!({
                "month": m,
                "label": month_label(m),
                "median": duration(*median),
                "answered": answered,
            }))
        })
        .collect();
    json!({
        "unanswered": stats.unanswered,
        "overdue": stats.overdue,
        "capped": stats.capped,
        "medians": medians,
    })
}
