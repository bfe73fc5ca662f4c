//! The browsable API documentation: Swagger UI (vendored from the npm package
//! `swagger-ui-dist`, see `docs/README.md`) served from the binary, so it works offline,
//! reading `/openapi.json`. Public, like the document itself; calls made from it need a
//! token (its "Authorize" button).

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The page.
pub const PAGE: &str = "/docs";
/// Its script and style.
pub const SCRIPT: &str = "/docs/swagger-ui-bundle.js";
pub const STYLE: &str = "/docs/swagger-ui.css";

const BUNDLE: &str = include_str!("docs/swagger-ui-bundle.js");
const CSS: &str = include_str!("docs/swagger-ui.css");

pub async fn page() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>roc42 API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true,
      deepLinking: true, tryItOutEnabled: true });
  </script>
</body>
</html>
"##,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")],
        BUNDLE,
    )
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")], CSS)
}
