//! `GET /health`, for service managers, containers and load balancers: 200 once the server
//! has started (every listener bound) and while storage answers, 503 otherwise. The body is
//! one word, for people reading it with curl.

use crate::{Body, WebShared, plain};
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Response, StatusCode};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A database slower than this to answer `SELECT 1` counts as unavailable: checkers time out
/// too, and an answer that says so beats none.
const STORAGE_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) async fn check(shared: &WebShared) -> Response<Body> {
    let mut r = if !shared.ready.load(Ordering::Acquire) {
        plain(StatusCode::SERVICE_UNAVAILABLE, "starting or stopping\n")
    } else {
        match tokio::time::timeout(STORAGE_TIMEOUT, shared.db.ping()).await {
            Ok(Ok(())) => plain(StatusCode::OK, "ok\n"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: storage does not answer");
                plain(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n")
            }
            Err(_) => {
                tracing::warn!(timeout = ?STORAGE_TIMEOUT, "health check: storage does not answer in time");
                plain(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n")
            }
        }
    };
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
