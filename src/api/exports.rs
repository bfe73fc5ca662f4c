//! Exports of readings as CSV or Parquet, streamed: the response starts with the first
//! rows and holds a bounded buffer whatever the size of the export.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::warn;
use utoipa::IntoParams;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::analytics::export::Format;
use crate::store::export::{self, ExportFilter};
use crate::store::reading::Bucket;

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 256 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `csv` (default) or `parquet`.
    #[param(value_type = Option<String>)]
    pub format: Option<Format>,
    /// `raw` (default), `1h` or `1d` (rollups: value is the mean, with count, min, max, last).
    #[param(value_type = Option<String>)]
    pub bucket: Option<Bucket>,
    pub metric: Option<String>,
    /// INSEE code.
    pub commune: Option<String>,
    pub service: Option<String>,
    pub site_id: Option<i64>,
    pub dev_eui: Option<String>,
    /// Start (RFC 3339); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, excluded; default now.
    pub to: Option<DateTime<Utc>>,
}

/// Readings as a file, with the device, commune, site and service of each row; a
/// commune's token exports its own devices only. Any size: the body is streamed.
#[utoipa::path(get, path = "/api/v1/exports/readings", tag = "exports", params(ExportQuery),
    responses((status = 200, description = "CSV or Parquet file", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody)))]
pub async fn readings(
    principal: Principal,
    State(s): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.unwrap_or(Format::Csv);
    if let Some(m) = &q.metric {
        if roc42_decoders::Metric::from_name(m).is_none() {
            return Err(ApiError::BadRequest(format!("unknown metric {m:?}; see /api/v1/metrics")));
        }
    }
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    let filter = ExportFilter {
        scope: principal.commune().map(str::to_owned),
        commune: q.commune,
        service: q.service,
        site_id: q.site_id,
        dev_eui: q.dev_eui.map(|d| d.to_ascii_lowercase()),
        metric: q.metric,
        from,
        to,
        grain: q.bucket.and_then(Bucket::grain),
    };
    // Fail before the 200 if the encoder cannot start.
    let encoder = format.encoder().map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(produce(s.pool.clone(), filter, encoder, tx));
    let body =
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }));
    let name = format!("readings-{}-{}.{}", from.format("%Y%m%d"), to.format("%Y%m%d"), format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

/// Runs the export query and feeds the body; an error ends the body early (the client
/// sees a truncated transfer, never a file that looks complete).
async fn produce(
    pool: sqlx::PgPool,
    filter: ExportFilter,
    mut encoder: Box<dyn crate::analytics::export::Encoder>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let sql = export::query(filter.grain);
    let fail = |e: String| std::io::Error::other(e);
    let mut rows = export::rows(&pool, &sql, &filter);
    let mut pending: Vec<u8> = Vec::new();
    let mut count: u64 = 0;
    loop {
        match rows.try_next().await {
            Ok(Some(row)) => {
                count += 1;
                if let Err(e) = encoder.push(&row) {
                    let _ = tx.send(Err(fail(e.to_string()))).await;
                    return;
                }
                pending.extend(encoder.take());
                if pending.len() >= CHUNK && tx.send(Ok(Bytes::from(std::mem::take(&mut pending)))).await.is_err() {
                    return; // The client went away.
                }
            }
            Ok(None) => break,
            Err(e) => {
                warn!(error = %e, rows = count, "Export query failed.");
                let _ = tx.send(Err(fail(format!("export failed after {count} rows: {e}")))).await;
                return;
            }
        }
    }
    match encoder.finish() {
        Ok(last) => {
            pending.extend(last);
            let _ = tx.send(Ok(Bytes::from(pending))).await;
            metrics::counter!("roc42_export_rows_total").increment(count);
        }
        Err(e) => {
            let _ = tx.send(Err(fail(e.to_string()))).await;
        }
    }
}
