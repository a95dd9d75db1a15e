//! The probes and the metrics of the process, for a load balancer,
//! systemd's neighbours and Prometheus. Public (no key): they say nothing
//! about any conversation; put the listener on loopback or behind the
//! proxy's access rules (docs/deploy.md).
//!
//! - `GET /healthz`: the process is up and answers HTTP. It touches
//!   nothing else (the store included), so that a load balancer's probe
//!   costs nothing and the benchmarks can compare every endpoint with it.
//! - `GET /readyz`: `parley serve` has started (store open, every
//!   listener bound, the first IMAP logins tried), the store answers, and
//!   the outbox is not stuck (no notification due for longer than
//!   `http.ready_outbox_stuck_secs` without a worker taking it). 503
//!   otherwise, with the check that failed.
//! - `GET /metrics`: the counters of [`crate::metrics`] and the store's
//!   gauges, in Prometheus text format 0.0.4 (docs/metrics.md).

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::AppState;
use crate::http::error::{Kind, Problem};
use crate::http::extract::Json;
use crate::store::now_ms;

/// How long a probe waits for the store before calling it down.
const STORE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "getHealth",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// What `/readyz` found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` (when not ready, the answer is a 503 problem).
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `parley serve` has opened the store, bound every listener and tried
    /// the first IMAP logins.
    pub started: bool,
    /// `ok`, or `unavailable` when the store did not answer within 2 s.
    #[schema(example = "ok")]
    pub store: &'static str,
    /// `ok`; `stuck` when a notification has been due longer than
    /// `http.ready_outbox_stuck_secs` without a worker taking it; `off`
    /// when this process runs no outbox worker; `unknown` when the store
    /// did not answer.
    #[schema(example = "ok")]
    pub outbox: &'static str,
    /// How long the longest-waiting due notification has waited, in
    /// seconds (0 when none waits).
    pub outbox_waiting_secs: u64,
}

/// Whether the process is ready to take mail and API calls.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    operation_id = "getReadiness",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: starting, the store does not answer, or the outbox is stuck; the problem's extension members `started`, `store`, `outbox` and `outbox_waiting_secs` say which, as in the answer when ready", body = crate::http::error::ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let started = state.started();
    let now = now_ms();
    let store = state.store();
    let ping = tokio::time::timeout(STORE_WAIT, store.ping()).await;
    let store_ok = match ping {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readyz: the store does not answer");
            false
        }
        Err(_) => {
            tracing::warn!("readyz: the store did not answer within 2 s");
            false
        }
    };
    let mut waiting = 0;
    let outbox = if !state.config.outbox.enabled {
        "off"
    } else if !store_ok {
        "unknown"
    } else {
        match tokio::time::timeout(STORE_WAIT, store.outbox_due_since(now)).await {
            Ok(Ok(since)) => {
                waiting = since.map_or(0, |at| (now - at).max(0) as u64 / 1000);
                if waiting > state.config.http.ready_outbox_stuck_secs {
                    "stuck"
                } else {
                    "ok"
                }
            }
            _ => "unknown",
        }
    };
    let ready = started && store_ok && matches!(outbox, "ok" | "off");
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        started,
        store: if store_ok { "ok" } else { "unavailable" },
        outbox,
        outbox_waiting_secs: waiting,
    };
    if ready {
        return Json(body).into_response();
    }
    // An error is a problem (RFC 9457) like every other; the checks are
    // its extension members.
    Problem::new(Kind::Unavailable, "")
        .with("started", body.started)
        .with("store", body.store)
        .with("outbox", body.outbox)
        .with("outbox_waiting_secs", body.outbox_waiting_secs)
        .into_response()
}

/// The content type of Prometheus's text format.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's counters and the store's gauges (Prometheus text format).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "getMetrics",
    responses((
        status = 200,
        description = "Prometheus text format 0.0.4 (docs/metrics.md); `parley_store_up 0` when the store did not answer",
        body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8"
    ))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let now = now_ms();
    let gauges = match tokio::time::timeout(STORE_WAIT, state.store().gauges(now)).await {
        Ok(Ok(g)) => Some(g),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the store does not answer");
            None
        }
        Err(_) => None,
    };
    let text = crate::metrics::metrics().render(gauges.as_ref(), now);
    ([(header::CONTENT_TYPE, METRICS_TYPE)], text).into_response()
}
