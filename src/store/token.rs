//! API bearer tokens (`api_token`): created with a role (and a commune for commune
//! tokens), stored as a SHA-256 hash, looked up by hash, revoked.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Operator,
    /// Read everything, write nothing.
    Analyst,
    /// Read the devices and readings of one commune.
    Commune,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Analyst => "analyst",
            Role::Commune => "commune",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Role::Operator),
            "analyst" => Some(Role::Analyst),
            "commune" => Some(Role::Commune),
            _ => None,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| format!("unknown role {s:?} (operator, analyst or commune)"))
    }
}

/// The prefix of every token, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "roc42_";

/// A token as listed: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub role: Role,
    /// INSEE code, for commune tokens.
    pub commune: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just created: the only time the token itself exists outside its holder.
#[derive(Debug)]
pub struct NewToken {
    pub id: i64,
    /// `roc42_` followed by 32 random bytes in hex.
    pub token: String,
}

/// An unrevoked token's identity, as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: i64,
    pub role: Role,
    pub commune: Option<String>,
}

/// The SHA-256 of a token, as stored.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `bytes` random bytes in hex.
pub fn random_secret(bytes: usize) -> String {
    let mut secret = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut secret);
    hex::encode(secret)
}

/// Creates a token; the commune is required for (and only for) the commune role.
pub async fn create(pool: &PgPool, role: Role, commune: Option<&str>, label: &str) -> Result<NewToken, sqlx::Error> {
    let token = format!("{TOKEN_PREFIX}{}", random_secret(32));
    const Q: &str = "INSERT INTO api_token (label, role, commune, token_hash) VALUES ($1, $2, $3, $4) RETURNING id";
    let id = sqlx::query_scalar(Q)
        .bind(label)
        .bind(role.as_str())
        .bind(commune)
        .bind(&hash(&token)[..])
        .fetch_one(pool)
        .await?;
    Ok(NewToken { id, token })
}

type Row = (i64, String, String, Option<String>, DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Every token, revoked ones included, by id.
pub async fn list(pool: &PgPool) -> Result<Vec<TokenInfo>, sqlx::Error> {
    const Q: &str = "SELECT id, label, role, commune, created_at, last_used_at, revoked_at FROM api_token ORDER BY id";
    let rows: Vec<Row> = sqlx::query_as(Q).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, label, role, commune, created_at, last_used_at, revoked_at)| {
            Some(TokenInfo { id, label, role: Role::parse(&role)?, commune, created_at, last_used_at, revoked_at })
        })
        .collect())
}

/// The holder of an unrevoked token with this hash.
pub async fn get_by_hash(pool: &PgPool, token_hash: &[u8; 32]) -> Result<Option<Holder>, sqlx::Error> {
    const Q: &str = "SELECT id, role, commune FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL";
    let row: Option<(i64, String, Option<String>)> =
        sqlx::query_as(Q).bind(&token_hash[..]).fetch_optional(pool).await?;
    Ok(row.and_then(|(id, role, commune)| Some(Holder { id, role: Role::parse(&role)?, commune })))
}

/// Records a use of the token (the caller throttles how often).
pub async fn touch(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_token SET last_used_at = now() WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

/// Revokes a token; false if there is no such token or it was already revoked.
pub async fn revoke(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    const Q: &str = "UPDATE api_token SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL";
    Ok(sqlx::query(Q).bind(id).execute(pool).await?.rows_affected() > 0)
}
