//! Who is calling: every API request resolves to a [`Principal`] from its bearer token
//! (see `store::token`), or, for reads, from the session cookie of the built-in pages
//! (`store::session`, see `web`), or is refused. Also the access policy that does not depend on
//! data (public routes, operator-only routes, writes) and the failed-auth rate limit;
//! what a commune may see is decided by the store queries, which take its commune.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

use super::catalogue::Scope;
use super::error::ApiError;
use crate::store::token::{self, Holder, Role};

/// Routes anyone may call. `/health` (probes), `/metrics` (Prometheus scrapes it without
/// credentials; it carries counters, never a DevEUI or a commune), `/openapi.json` and
/// the `/docs` page that browses it (the API's shape is public, the data is not); the
/// webhooks check their own secret.
pub const PUBLIC_ROUTES: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    super::docs::PAGE,
    super::docs::SCRIPT,
    super::docs::STYLE,
    crate::ingest::tts::WEBHOOK_ROUTE,
    crate::ingest::thingpark::WEBHOOK_ROUTE,
];

/// Route prefixes only operators may call: what ingest kept (raw frames of any commune)
/// the unknown-device queue (frames of devices no commune has yet) and alert rules
/// (webhook targets of every commune) and fleet health (gateways serve every commune).
pub const OPERATOR_PREFIXES: &[&str] =
    &["/api/v1/ingest/", "/api/v1/devices/unknown", "/api/v1/alerts/rules", "/api/v1/fleet/"];

/// How long a token lookup is trusted: a revoked token stops working within this time.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// `last_used_at` is written at most this often per token.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Failed authentications a client IP may make in a burst...
pub const FAILURE_BURST: f64 = 10.0;
/// ...and then one more every this many seconds (10 a minute).
pub const FAILURE_REFILL_S: f64 = 6.0;
/// Entries kept in each in-memory map before the stale ones are swept.
const MAX_ENTRIES: usize = 10_000;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// SIEL operators: everything.
    Operator,
    /// Read everything, write nothing.
    Analyst,
    /// A commune, by INSEE code: reads its own devices and readings only.
    Commune(String),
}

impl Principal {
    /// The commune the caller is confined to; `None` for every commune. Pass it to the
    /// store: handlers never filter afterwards.
    pub fn commune(&self) -> Option<&str> {
        match self {
            Principal::Commune(insee) => Some(insee),
            Principal::Operator | Principal::Analyst => None,
        }
    }

    /// What the catalogue handlers may show.
    pub fn scope(&self) -> Scope {
        Scope { commune: self.commune().map(str::to_owned) }
    }

    fn from_holder(h: Holder) -> Option<Self> {
        match (h.role, h.commune) {
            (Role::Operator, _) => Some(Principal::Operator),
            (Role::Analyst, _) => Some(Principal::Analyst),
            (Role::Commune, Some(insee)) => Some(Principal::Commune(insee)),
            (Role::Commune, None) => None,
        }
    }
}

/// Handlers take a `Principal` argument; [`authenticate`] put it there. A route outside
/// that layer gets 401, never an anonymous pass.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))
    }
}

/// Token lookups (cached) and the failed-auth rate limiter, shared by all requests.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

struct Inner {
    pool: PgPool,
    /// Credential -> its holder (`None`: no such unrevoked token or live session), and
    /// when looked up.
    cache: Mutex<HashMap<Credential, Cached>>,
    /// Token id -> when `last_used_at` was last written.
    touched: Mutex<HashMap<i64, Instant>>,
    /// Client IP -> failed-auth token bucket.
    failures: Mutex<HashMap<IpAddr, Bucket>>,
}

/// A lookup and when it was made.
type Cached = (Option<Holder>, Instant);

/// What a request presented, hashed: a bearer token or a session cookie's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    Token([u8; 32]),
    Session([u8; 32]),
}

/// The name of the built-in pages' session cookie.
pub const SESSION_COOKIE: &str = "roc42_session";

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Self {
        Self { tokens: FAILURE_BURST, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let gained = now.duration_since(self.at).as_secs_f64() / FAILURE_REFILL_S;
        self.tokens = (self.tokens + gained).min(FAILURE_BURST);
        self.at = now;
    }

    /// Seconds until one more failure is allowed; 0 if one is allowed now.
    fn wait_s(&self) -> u64 {
        if self.tokens >= 1.0 {
            0
        } else {
            ((1.0 - self.tokens) * FAILURE_REFILL_S).ceil().max(1.0) as u64
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold no invariant a panicking holder could break.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth {
    pub fn new(pool: PgPool) -> Self {
        Self(Arc::new(Inner { pool, cache: Mutex::default(), touched: Mutex::default(), failures: Mutex::default() }))
    }

    /// The principal of a request, or why not: its bearer token, else (when
    /// `cookie_allowed`: reads only) its session cookie.
    pub async fn principal(
        &self,
        ip: IpAddr,
        headers: &HeaderMap,
        cookie_allowed: bool,
    ) -> Result<Principal, ApiError> {
        let wait = self.blocked_for(ip);
        if wait > 0 {
            return Err(ApiError::RateLimited { retry_after_s: wait });
        }
        let credential = match (headers.get(header::AUTHORIZATION), cookie(headers, SESSION_COOKIE)) {
            (Some(value), _) => {
                let token = value.to_str().ok().and_then(|v| {
                    let (scheme, rest) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
                });
                token.filter(|t| !t.is_empty()).map(|t| Credential::Token(token::hash(t)))
            }
            (None, Some(secret)) if cookie_allowed => Some(Credential::Session(token::hash(secret))),
            (None, _) => {
                return Err(ApiError::Unauthorized("authentication required: Authorization: Bearer <token>".into()))
            }
        };
        let holder = match credential {
            Some(c) => self.lookup(c).await?,
            None => None,
        };
        match holder.and_then(|h| {
            let id = h.id;
            Principal::from_holder(h).map(|p| (id, p))
        }) {
            Some((id, p)) => {
                self.touch(id).await;
                Ok(p)
            }
            None => {
                self.failed(ip);
                Err(ApiError::Unauthorized("invalid or revoked token, or expired session".into()))
            }
        }
    }

    /// The token holder of a token given at login, counting a failure against `ip`.
    pub async fn check_token(&self, ip: IpAddr, token: &str) -> Result<Option<Holder>, ApiError> {
        let wait = self.blocked_for(ip);
        if wait > 0 {
            return Err(ApiError::RateLimited { retry_after_s: wait });
        }
        let holder = self.lookup(Credential::Token(token::hash(token.trim()))).await?;
        if holder.as_ref().and_then(|h| Principal::from_holder(h.clone())).is_none() {
            self.failed(ip);
            return Ok(None);
        }
        Ok(holder)
    }

    /// Forgets a cached credential (a session ended at logout).
    pub fn forget(&self, credential: Credential) {
        lock(&self.0.cache).remove(&credential);
    }

    async fn lookup(&self, credential: Credential) -> Result<Option<Holder>, ApiError> {
        let now = Instant::now();
        if let Some((holder, at)) = lock(&self.0.cache).get(&credential) {
            if now.duration_since(*at) < CACHE_TTL {
                return Ok(holder.clone());
            }
        }
        let holder = match &credential {
            Credential::Token(hash) => token::get_by_hash(&self.0.pool, hash).await?,
            Credential::Session(hash) => crate::store::session::get_by_hash(&self.0.pool, hash).await?,
        };
        let mut cache = lock(&self.0.cache);
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, (_, at)| now.duration_since(*at) < CACHE_TTL);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        // Unknown tokens are cached too: a client retrying a bad token costs no query.
        cache.insert(credential, (holder.clone(), now));
        Ok(holder)
    }

    /// Writes `last_used_at` if it was not written in the last [`TOUCH_EVERY`].
    async fn touch(&self, id: i64) {
        let now = Instant::now();
        {
            let mut touched = lock(&self.0.touched);
            if touched.get(&id).is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY) {
                return;
            }
            if touched.len() >= MAX_ENTRIES {
                touched.retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
            }
            touched.insert(id, now);
        }
        if let Err(e) = token::touch(&self.0.pool, id).await {
            tracing::debug!(token_id = id, error = %e, "Recording a token's use failed.");
        }
    }

    /// The database pool lookups use.
    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    /// Seconds `ip` must wait before it may try again; 0 if it may now.
    fn blocked_for(&self, ip: IpAddr) -> u64 {
        let now = Instant::now();
        let mut failures = lock(&self.0.failures);
        failures.get_mut(&ip).map_or(0, |b| {
            b.refill(now);
            b.wait_s()
        })
    }

    fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut failures = lock(&self.0.failures);
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, b| {
                b.refill(now);
                b.tokens < FAILURE_BURST
            });
        }
        let b = failures.entry(ip).or_insert_with(|| Bucket::full(now));
        b.refill(now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        metrics::counter!("roc42_api_auth_failures_total").increment(1);
    }
}

/// The client's address; requests without one (in-process tests) share one bucket.
pub fn client_ip(req: &Request) -> IpAddr {
    // Behind a reverse proxy every client shares the proxy's address: the limit then
    // applies to all of them together (X-Forwarded-For is not trusted).
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip())
}

/// The route layer: public routes pass; every other route needs a valid token, writes
/// need an operator, and so do [`OPERATOR_PREFIXES`]. Unknown routes are not public.
pub async fn authenticate(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    if route.as_deref().is_some_and(|r| PUBLIC_ROUTES.contains(&r)) {
        return next.run(req).await;
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // A session cookie reads (the pages link to exports); writes need the token itself, so
    // no other site can make a logged-in browser write.
    let principal = match auth.principal(client_ip(&req), req.headers(), safe).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let operator_only = route.as_deref().is_some_and(|r| OPERATOR_PREFIXES.iter().any(|p| r.starts_with(p)));
    if principal != Principal::Operator && (!safe || operator_only) {
        return ApiError::Forbidden("this route is for operators".into()).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_one_every_refill() {
        let t0 = Instant::now();
        let mut b = Bucket::full(t0);
        for _ in 0..10 {
            assert_eq!(b.wait_s(), 0);
            b.tokens -= 1.0;
        }
        assert_eq!(b.wait_s(), 6);
        b.refill(t0 + Duration::from_secs(3));
        assert_eq!(b.wait_s(), 3);
        b.refill(t0 + Duration::from_secs(6));
        assert_eq!(b.wait_s(), 0);
        b.refill(t0 + Duration::from_secs(3600));
        assert_eq!(b.tokens, FAILURE_BURST);
    }

    #[test]
    fn commune_scope() {
        assert_eq!(Principal::Commune("42218".into()).commune(), Some("42218"));
        assert_eq!(Principal::Analyst.commune(), None);
        assert!(!Principal::Commune("42218".into()).scope().allows("42187"));
        assert!(Principal::Operator.scope().allows("42187"));
    }
}
