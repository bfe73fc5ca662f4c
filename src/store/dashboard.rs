//! Database roles for Grafana (`dashboard_role`): a login role per commune (or one for
//! operators, every commune), member of `roc42_dashboard`, which reads the views of
//! schema `dashboard` and nothing else; the views keep the rows of the communes granted
//! (migration `20261203000001_dashboard_views.sql`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// The group role every dashboard login is a member of.
pub const GROUP_ROLE: &str = "roc42_dashboard";

/// Why a grant was refused.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("role name {0:?}: lowercase letters, digits and underscores, starting with a letter, at most 63")]
    BadName(String),
    #[error("role {0:?} exists and is not a dashboard role; pick another name")]
    Taken(String),
    #[error("unknown commune {0:?}")]
    UnknownCommune(String),
    #[error("grant at least one commune, or every commune")]
    Nothing,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A role's grant, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DashboardRole {
    pub role_name: String,
    /// INSEE codes.
    pub communes: Vec<String>,
    pub all_communes: bool,
    pub created_at: DateTime<Utc>,
}

/// What a role may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Communes {
    /// Operators' dashboards.
    All,
    /// These communes (INSEE codes).
    Only(Vec<String>),
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("pg_")
}

/// Creates the login role `name` with `password` (or updates the password of a dashboard
/// role of that name), makes it a member of [`GROUP_ROLE`], and grants it `communes`,
/// replacing what it had. The connection needs CREATEROLE (or to be a superuser).
pub async fn grant(pool: &PgPool, name: &str, password: &str, communes: &Communes) -> Result<(), GrantError> {
    if !valid_name(name) {
        return Err(GrantError::BadName(name.to_owned()));
    }
    let (list, all) = match communes {
        Communes::All => (Vec::new(), true),
        Communes::Only(list) if list.is_empty() => return Err(GrantError::Nothing),
        Communes::Only(list) => (list.clone(), false),
    };
    let known: Vec<String> =
        sqlx::query_scalar("SELECT insee FROM commune WHERE insee = ANY($1)").bind(&list).fetch_all(pool).await?;
    if let Some(missing) = list.iter().find(|c| !known.contains(c)) {
        return Err(GrantError::UnknownCommune(missing.clone()));
    }
    let mut tx = pool.begin().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    let ours: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM dashboard_role WHERE role_name = $1)")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    if exists && !ours {
        // Never hand the views' grants (or a new password) to a role someone else made.
        return Err(GrantError::Taken(name.to_owned()));
    }
    // Utility statements take no parameters: format() quotes the name and the password.
    let verb = if exists { "ALTER" } else { "CREATE" };
    let ddl: String = sqlx::query_scalar(&format!(
        "SELECT format('{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD %L', $1::text, $2::text)"
    ))
    .bind(name)
    .bind(password)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(&ddl).execute(&mut *tx).await?;
    let grant: String = sqlx::query_scalar("SELECT format('GRANT %I TO %I', $1::text, $2::text)")
        .bind(GROUP_ROLE)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(&grant).execute(&mut *tx).await?;
    const Q: &str = "INSERT INTO dashboard_role (role_name, communes, all_communes) VALUES ($1, $2, $3)
        ON CONFLICT (role_name) DO UPDATE SET communes = EXCLUDED.communes, all_communes = EXCLUDED.all_communes";
    sqlx::query(Q).bind(name).bind(&list).bind(all).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Every dashboard role, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<DashboardRole>, sqlx::Error> {
    sqlx::query_as("SELECT role_name, communes, all_communes, created_at FROM dashboard_role ORDER BY role_name")
        .fetch_all(pool)
        .await
}

/// Removes a dashboard role's grant and drops the role; false if it is not one.
pub async fn revoke(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let gone = sqlx::query("DELETE FROM dashboard_role WHERE role_name = $1").bind(name).execute(&mut *tx).await?;
    if gone.rows_affected() == 0 {
        return Ok(false);
    }
    let drop: String =
        sqlx::query_scalar("SELECT format('DROP ROLE IF EXISTS %I', $1::text)").bind(name).fetch_one(&mut *tx).await?;
    sqlx::query(&drop).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert!(valid_name("grafana_42218"));
        assert!(valid_name("siel_ops"));
        for bad in ["", "Grafana", "1abc", "a-b", "a b", "pg_x", "a\"; DROP", &"a".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
