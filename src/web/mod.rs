//! The built-in pages (`/ui/`): server-rendered HTML for communes (a map of their sites and
//! devices with latest values and alert state, a page per site with charts and indicators)
//! and operators (fleet health, the unknown-device queue), with Leaflet and uPlot served
//! from the binary. A page shows what the API shows the same principal: handlers call the
//! API's own handlers. Login takes an API token and opens a cookie session.

mod assets;
mod layout;
mod pages;

use std::net::IpAddr;

use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use crate::api::auth::{self, Auth, Credential, Principal, SESSION_COOKIE};
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::store::{session, token};

/// Where the pages live.
pub const PREFIX: &str = "/ui";

/// What the page routes share: the API's state and its authentication.
#[derive(Clone)]
pub struct WebState {
    pub app: AppState,
    pub auth: Auth,
}

impl axum::extract::FromRef<WebState> for AppState {
    fn from_ref(s: &WebState) -> AppState {
        s.app.clone()
    }
}

/// The page routes: login and logout, assets (public), and the pages (a session or a
/// bearer token; without one, the login page).
pub fn router(app: AppState, auth: Auth) -> Router {
    let state = WebState { app, auth: auth.clone() };
    let pages = Router::new()
        .route("/ui/", get(pages::home))
        .route("/ui/sites/{id}", get(pages::site))
        .route("/ui/fleet", get(pages::fleet))
        .route("/ui/unknown", get(pages::unknown))
        .route_layer(axum::middleware::from_fn_with_state(auth, require_login));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", axum::routing::post(logout))
        .route("/ui/assets/{file}", get(assets::serve))
        .merge(pages)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The principal of a page request, or the login page (with where to come back to).
async fn require_login(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let ip = auth::client_ip(&req);
    match auth.principal(ip, req.headers(), true).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(ApiError::Unauthorized(_)) => {
            let back = req.uri().path_and_query().map_or("/ui/", |p| p.as_str());
            let to = format!("/ui/login?next={}", urlencode(back));
            // An expired or revoked session's cookie goes too.
            let mut resp = Redirect::to(&to).into_response();
            if auth::cookie(req.headers(), SESSION_COOKIE).is_some() {
                resp.headers_mut().insert(header::SET_COOKIE, clear_cookie());
            }
            resp
        }
        Err(e) => PageError(e).into_response(),
    }
}

/// An error as a page: the API's status and safe message, never internals.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = self.0.status();
        let message = self.0.to_string();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = layout::bare(
            title,
            html! {
                main.narrow {
                    h1 { (title) }
                    p { (message) }
                    p { a href="/ui/" { "Back to the map" } }
                }
            },
        );
        (status, body).into_response()
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Markup {
    login_form(q.next.as_deref(), q.error.is_some())
}

fn login_form(next: Option<&str>, failed: bool) -> Markup {
    let next = next.filter(|n| safe_next(n)).unwrap_or("/ui/");
    layout::bare(
        "Log in",
        html! {
            main.narrow {
                h1 { "roc42" }
                p.lead { "The sensors of your commune: air quality, energy, parking." }
                @if failed {
                    p.error role="alert" { "That token is not valid, or it was revoked." }
                }
                form method="post" action="/ui/login" {
                    label for="token" { "Access token" }
                    input #token type="password" name="token" autocomplete="current-password" required
                        placeholder="roc42_…" autofocus;
                    input type="hidden" name="next" value=(next);
                    button #login type="submit" { "Log in" }
                }
                p.hint { "The SIEL gives each commune and operator a token (" code { "roc42 tokens create" } ")." }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Only paths of these pages: never another site (an open redirect).
fn safe_next(next: &str) -> bool {
    next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\')
}

async fn login(
    State(s): State<WebState>,
    extensions: axum::http::Extensions,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    // As `auth::client_ip`: requests without an address (in-process tests) share one bucket.
    let ip = extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(a)| a.ip());
    let next = f.next.as_deref().filter(|n| safe_next(n)).unwrap_or("/ui/");
    let Some(holder) = s.auth.check_token(ip, &f.token).await? else {
        return Ok(Redirect::to(&format!("/ui/login?error=1&next={}", urlencode(next))).into_response());
    };
    let hours = s.app.pages.session_hours;
    let expires = chrono::Utc::now() + chrono::Duration::hours(i64::from(hours));
    let secret = session::create(&s.app.pool, holder.id, expires).await?;
    let secure = if s.app.pages.secure_cookie { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", hours * 3600);
    let mut resp = Redirect::to(next).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?;
    resp.headers_mut().insert(header::SET_COOKIE, value);
    tracing::info!(token_id = holder.id, role = holder.role.as_str(), "Page login.");
    Ok(resp)
}

async fn logout(State(s): State<WebState>, headers: HeaderMap) -> Result<Response, PageError> {
    if let Some(secret) = auth::cookie(&headers, SESSION_COOKIE) {
        let hash = token::hash(secret);
        session::delete(&s.app.pool, &hash).await?;
        s.auth.forget(Credential::Session(hash));
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    Ok(resp)
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("roc42_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Pages run our scripts only, and frame nowhere; map tiles come from the configured
/// server (images), so `img-src` allows any https origin.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Pages carry a commune's data: no cache keeps them. Assets say otherwise themselves.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The principal a page handler runs as ([`require_login`] put it there).
pub type Viewer = Principal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_pages() {
        assert!(safe_next("/ui/sites/3?period=7d"));
        for bad in ["//evil.example/ui/", "https://evil.example", "/api/v1/devices", "/ui\\..", "/ui/\\evil"] {
            assert!(!safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(urlencode("/ui/sites/3?period=7d&x=é"), "/ui/sites/3%3Fperiod%3D7d%26x%3D%C3%A9");
    }
}
