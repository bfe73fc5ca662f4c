//! The pages' scripts and styles, compiled into the binary (no CDN: the pages work
//! offline): Leaflet and uPlot as vendored in `dashboards/web/vendor/`, and our own
//! `app.js` and `app.css`.

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;

use super::PageError;
use crate::api::error::ApiError;

/// (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../dashboards/web/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../dashboards/web/app.css")),
    ("leaflet.js", "text/javascript; charset=utf-8", include_bytes!("../../dashboards/web/vendor/leaflet/leaflet.js")),
    ("leaflet.css", "text/css; charset=utf-8", include_bytes!("../../dashboards/web/vendor/leaflet/leaflet.css")),
    (
        "uplot.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../dashboards/web/vendor/uplot/uPlot.iife.min.js"),
    ),
    ("uplot.css", "text/css; charset=utf-8", include_bytes!("../../dashboards/web/vendor/uplot/uPlot.min.css")),
];

pub async fn serve(Path(file): Path<String>) -> Result<impl IntoResponse, PageError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::NotFound(format!("no asset {file:?}")))?;
    // An hour: a new release's assets are picked up soon after without a versioned URL.
    Ok(([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *bytes))
}
