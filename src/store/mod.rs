//! PostgreSQL/TimescaleDB access: the pool, migrations (`migrations/`), and one file
//! per table family. SQL lives here as `const`s checked at runtime (the build needs no
//! database); business rules do not.

pub mod alert;
pub mod batch;
pub mod dashboard;
pub mod device;
pub mod domain;
pub mod event;
pub mod experiment;
pub mod export;
pub mod health;
pub mod model;
pub mod reading;
pub mod rejected;
pub mod rollup;
pub mod session;
pub mod token;
pub mod uplink;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use tracing::info;

use crate::config::DatabaseConfig;

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations");

/// Creates the database if it does not exist, then connects a pool.
pub async fn connect(cfg: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(&cfg.url).context("parse database URL")?;
    if !Postgres::database_exists(&cfg.url).await.context("reach PostgreSQL")? {
        info!(database = opts.get_database().unwrap_or_default(), "Creating database.");
        if let Err(e) = Postgres::create_database(&cfg.url).await {
            // Another process may have created it at the same time.
            if !Postgres::database_exists(&cfg.url).await.unwrap_or(false) {
                return Err(e).context("create database");
            }
        }
    }
    PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts.application_name("roc42"))
        .await
        .context("connect to PostgreSQL")
}

/// Applies the pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context(
        "apply migrations (is the timescaledb extension installed and preloaded? see deploy/local/services.sh)",
    )?;
    domain::sync_service_models(pool).await.context("add the built-in models to the catalogue's services")?;
    domain::sync_metrics(pool).await.context("copy the metric catalogue")
}

/// Whether a database error may go away by itself (retry) rather than being about the
/// data (do not retry the same statement).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // Class 08: connection exceptions; 40001/40P01: serialization failure and
            // deadlock; 53: insufficient resources; 57P0x: admin shutdown, crash,
            // cannot connect now; 55P03: lock not available.
            code.starts_with("08")
                || code == "40001"
                || code == "40P01"
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "55P03"
        }
        _ => false,
    }
}
