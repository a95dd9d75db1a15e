//! `GET /healthz`: the process is up and answers HTTP. It touches
//! nothing else (the store included), so that a load balancer's probe
//! costs nothing and the benchmarks can compare every endpoint with it.

use serde::Serialize;

use crate::http::extract::Json;

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
