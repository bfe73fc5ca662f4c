//! Webhooks: HTTP ingest for network servers that push over HTTP (ThingPark HTTP
//! connections) or whose MQTT is not durable (The Things Stack: QoS 0 only). A request
//! becomes an [`Inbound`] on the same pipeline channel the MQTT consumer feeds, and is
//! answered 200 only once the writer has committed what it carried.
//!
//! Status codes: 404 when the route has no secret configured (disabled); 401 without a
//! secret, 403 with a wrong one (nothing is kept); 413 over `webhooks.max_body_bytes`;
//! 503 when ingest is not running or the commit did not happen within
//! `webhooks.commit_timeout_ms` (the sender retries; the retry is deduplicated); 200
//! once committed, including for a message that does not parse: it is kept raw in
//! `ingest_rejected`, and the body says `"status": "rejected"` with the error.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::config::WebhookConfig;
use crate::ingest::{self, thingpark, tts, Ack, Inbound, Parsed};
use crate::telemetry::names;

/// The header carrying the shared secret (`Authorization: Bearer <secret>` works too).
pub const SECRET_HEADER: &str = "x-roc42-secret";

/// What the webhook routes need: their secrets and the pipeline's inbound channel.
/// Cheap to clone. The default has every route disabled.
#[derive(Clone, Default)]
pub struct Webhooks(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// SHA-256 of each secret: compared in constant time, whatever the lengths.
    tts: Option<[u8; 32]>,
    thingpark: Option<[u8; 32]>,
    /// Weak, so the HTTP side never keeps the pipeline from draining at shutdown.
    inbound: Option<mpsc::WeakSender<Inbound>>,
    max_body_bytes: usize,
    commit_timeout: Duration,
}

impl Webhooks {
    /// Routes enabled for each secret in `cfg`, sending into `inbound` (none: the API
    /// runs without ingest, and enabled routes answer 503).
    pub fn new(cfg: &WebhookConfig, inbound: Option<mpsc::WeakSender<Inbound>>) -> Self {
        let digest = |s: &Option<String>| s.as_deref().map(|s| <[u8; 32]>::from(Sha256::digest(s.as_bytes())));
        Self(Arc::new(Inner {
            tts: digest(&cfg.tts_secret),
            thingpark: digest(&cfg.thingpark_secret),
            inbound,
            max_body_bytes: cfg.max_body_bytes,
            commit_timeout: cfg.commit_timeout(),
        }))
    }
}

/// The answer once the message is committed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReply {
    /// `stored` (an uplink or event) or `rejected` (kept raw in `ingest_rejected`).
    #[schema(example = "stored")]
    pub status: &'static str,
    /// `uplink`, or the event kind (`join`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Why the message was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An uplink (or join-accept) message from a The Things Stack webhook: the webhook's
/// "uplink message" path, JSON format, with the secret as an additional header.
#[utoipa::path(post, path = "/api/v1/ingest/tts", tag = "ingest",
    params(("X-Roc42-Secret" = String, Header, description = "The webhook secret (`webhooks.tts_secret`); `Authorization: Bearer <secret>` works too.")),
    request_body(content = Object, content_type = "application/json", description = "TTS `ApplicationUp` JSON with `uplink_message` (or `join_accept`)."),
    responses(
        (status = 200, description = "Committed (stored, or kept as rejected).", body = WebhookReply),
        (status = 401, description = "No secret.", body = ErrorBody),
        (status = 403, description = "Wrong secret.", body = ErrorBody),
        (status = 404, description = "Route disabled: no secret configured.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 503, description = "Ingest not running or not committed in time: retry.", body = ErrorBody),
    ))]
pub async fn tts(State(s): State<AppState>, req: Request) -> Response {
    respond(receive(&s.webhooks, tts::WEBHOOK_ROUTE, s.webhooks.0.tts.as_ref(), req).await)
}

/// A `DevEUI_uplink` message from a ThingPark HTTP connection (with or without the
/// `DevEUI_uplink` root), with the secret as a header.
#[utoipa::path(post, path = "/api/v1/ingest/thingpark", tag = "ingest",
    params(("X-Roc42-Secret" = String, Header, description = "The webhook secret (`webhooks.thingpark_secret`); `Authorization: Bearer <secret>` works too.")),
    request_body(content = Object, content_type = "application/json", description = "ThingPark `{\"DevEUI_uplink\": {...}}`, numbers as numbers or strings."),
    responses(
        (status = 200, description = "Committed (stored, or kept as rejected).", body = WebhookReply),
        (status = 401, description = "No secret.", body = ErrorBody),
        (status = 403, description = "Wrong secret.", body = ErrorBody),
        (status = 404, description = "Route disabled: no secret configured.", body = ErrorBody),
        (status = 413, description = "Body too large.", body = ErrorBody),
        (status = 503, description = "Ingest not running or not committed in time: retry.", body = ErrorBody),
    ))]
pub async fn thingpark(State(s): State<AppState>, req: Request) -> Response {
    respond(receive(&s.webhooks, thingpark::WEBHOOK_ROUTE, s.webhooks.0.thingpark.as_ref(), req).await)
}

fn respond(r: Result<WebhookReply, ApiError>) -> Response {
    match r {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => {
            let extra = match &e {
                ApiError::Unauthorized(_) => Some((header::WWW_AUTHENTICATE, "Bearer")),
                ApiError::IngestUnavailable(_) => Some((header::RETRY_AFTER, "5")),
                _ => None,
            };
            let mut resp = e.into_response();
            if let Some((name, value)) = extra {
                resp.headers_mut().insert(name, HeaderValue::from_static(value));
            }
            resp
        }
    }
}

async fn receive(
    w: &Webhooks,
    route: &'static str,
    secret: Option<&[u8; 32]>,
    req: Request,
) -> Result<WebhookReply, ApiError> {
    let w = &w.0;
    let secret = secret.ok_or_else(|| ApiError::NotFound("no such route".into()))?;
    authorize(req.headers(), secret)?;
    let body = read_body(req.into_body(), w.max_body_bytes).await?;
    metrics::counter!(names::INGEST_RECEIVED, "source" => "http").increment(1);
    let tx = w
        .inbound
        .as_ref()
        .and_then(mpsc::WeakSender::upgrade)
        .ok_or_else(|| ApiError::IngestUnavailable("ingest is not running".into()))?;
    let (ack, committed) = oneshot::channel();
    let inbound = Inbound {
        source: "http",
        topic: route.to_owned(),
        payload: body.clone(),
        received_at: Utc::now(),
        ack: Ack::Http(ack),
    };
    let wait = async move {
        let sent = tx.send(inbound).await;
        // Only a weak handle is kept: shutdown must be able to close the channel.
        drop(tx);
        sent.map_err(|_| ())?;
        committed.await.map_err(|_| ())
    };
    match tokio::time::timeout(w.commit_timeout, wait).await {
        Ok(Ok(())) => {}
        // The pipeline stopped without committing it.
        Ok(Err(())) => return Err(ApiError::IngestUnavailable("ingest stopped before the message was stored".into())),
        Err(_) => {
            debug!(route, "Webhook message not committed in time.");
            return Err(ApiError::IngestUnavailable("not stored in time; retry".into()));
        }
    }
    // Committed. Tell the sender what became of it (the pipeline parsed the same bytes).
    Ok(match ingest::parse(route, &body) {
        Ok(Parsed::Uplink(_)) => WebhookReply { status: "stored", kind: Some("uplink"), error: None },
        Ok(Parsed::Event(e)) => WebhookReply { status: "stored", kind: Some(e.kind), error: None },
        Err(e) => WebhookReply { status: "rejected", kind: None, error: Some(e.to_string()) },
    })
}

/// Checks the shared secret: 401 without one, 403 when wrong.
fn authorize(headers: &HeaderMap, secret: &[u8; 32]) -> Result<(), ApiError> {
    let given = headers.get(SECRET_HEADER).map(HeaderValue::as_bytes).or_else(|| {
        let auth = headers.get(header::AUTHORIZATION)?.as_bytes();
        auth.strip_prefix(b"Bearer ").or_else(|| auth.strip_prefix(b"bearer "))
    });
    let Some(given) = given else {
        return Err(ApiError::Unauthorized("missing X-Roc42-Secret header".into()));
    };
    let given: [u8; 32] = Sha256::digest(given).into();
    // Constant time: every byte is compared whatever the first difference.
    let diff = given.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if std::hint::black_box(diff) == 0 {
        Ok(())
    } else {
        Err(ApiError::Forbidden("wrong secret".into()))
    }
}

/// Reads at most `max` bytes; a larger body is refused (and not kept).
async fn read_body(body: Body, max: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || ApiError::TooLarge(format!("request body larger than {max} bytes"));
    match axum::body::to_bytes(body, max).await {
        Ok(b) => Ok(b),
        Err(e) if is_length_limit(&e) => Err(too_large()),
        Err(_) => Err(ApiError::BadRequest("could not read the request body".into())),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit exceeded") {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(s: &str) -> [u8; 32] {
        Sha256::digest(s.as_bytes()).into()
    }

    #[test]
    fn secrets() {
        let secret = digest("0123456789abcdef");
        let mut h = HeaderMap::new();
        assert!(matches!(authorize(&h, &secret), Err(ApiError::Unauthorized(_))));
        h.insert(SECRET_HEADER, HeaderValue::from_static("0123456789abcdeX"));
        assert!(matches!(authorize(&h, &secret), Err(ApiError::Forbidden(_))));
        h.insert(SECRET_HEADER, HeaderValue::from_static("0123456789abcdef"));
        assert!(authorize(&h, &secret).is_ok());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer 0123456789abcdef"));
        assert!(authorize(&h, &secret).is_ok());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic 0123456789abcdef"));
        assert!(matches!(authorize(&h, &secret), Err(ApiError::Unauthorized(_))));
    }

    #[tokio::test]
    async fn body_limit() {
        assert_eq!(read_body(Body::from(vec![1u8; 10]), 10).await.unwrap().len(), 10);
        assert!(matches!(read_body(Body::from(vec![1u8; 11]), 10).await, Err(ApiError::TooLarge(_))));
    }
}
