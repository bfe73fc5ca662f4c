//! Sessions of the built-in pages (`web_session`): created from an API token at login,
//! looked up by the SHA-256 of the cookie's secret, ended at logout or expiry, and with
//! their token's revocation.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::token::{self, Holder, Role};

/// Opens a session for token `token_id` until `expires_at`; returns the cookie's secret
/// (shown to the browser only). Expired sessions are purged on the way.
pub async fn create(pool: &PgPool, token_id: i64, expires_at: DateTime<Utc>) -> Result<String, sqlx::Error> {
    let secret = token::random_secret(32);
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM web_session WHERE expires_at < now()").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO web_session (secret_hash, token_id, expires_at) VALUES ($1, $2, $3)")
        .bind(&token::hash(&secret)[..])
        .bind(token_id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(secret)
}

/// The holder of an unexpired session whose token is not revoked.
pub async fn get_by_hash(pool: &PgPool, secret_hash: &[u8; 32]) -> Result<Option<Holder>, sqlx::Error> {
    const Q: &str = "SELECT t.id, t.role, t.commune FROM web_session s JOIN api_token t ON t.id = s.token_id
        WHERE s.secret_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL";
    let row: Option<(i64, String, Option<String>)> =
        sqlx::query_as(Q).bind(&secret_hash[..]).fetch_optional(pool).await?;
    Ok(row.and_then(|(id, role, commune)| Some(Holder { id, role: role.parse::<Role>().ok()?, commune })))
}

/// Ends a session (logout); false if there was none.
pub async fn delete(pool: &PgPool, secret_hash: &[u8; 32]) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM web_session WHERE secret_hash = $1").bind(&secret_hash[..]).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}
