//! Notices for people — the bell in the header: something happened that they should know of
//! (Labhook switched one of their subscriptions off). One row per recipient, so that each
//! person marks their own as read.

use crate::db::{Conn, Pool};

use crate::{auth::CurrentUser, clock::now_ms, AppState, Result};

/// Most notices listed (the newest).
pub const SHOWN: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub subscription_id: Option<i64>,
    pub message: String,
    pub created_at: i64,
    pub read: bool,
}

/// Tells the owner of a subscription and every active org admin of its organisation, in the
/// caller's transaction.
pub async fn notify_about_subscription(
    conn: &mut Conn,
    subscription_id: i64,
    message: &str,
) -> Result<()> {
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO notifications (organisation_id, user_id, subscription_id, message, created_at)
         SELECT s.organisation_id, u.id, s.id, $2, $3
         FROM subscriptions s JOIN users u ON u.organisation_id = s.organisation_id
         WHERE s.id = $1 AND u.deactivated_at IS NULL
           AND (u.id = s.owner_id OR u.role = 'org_admin')",
    )
    .bind(subscription_id)
    .bind(message)
    .bind(now_ms())
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(())
}

/// The user's newest notices.
pub async fn list(pool: &Pool, user: &CurrentUser) -> Result<Vec<Notification>> {
    Ok(crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT id, subscription_id, message, created_at, read_at IS NOT NULL AS read
         FROM notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(user.id)
    .bind(SHOWN)
    .fetch_all(db)
    .await)?)
}

/// Marks all of the user's notices read.
pub async fn mark_all_read(state: &AppState, user: &CurrentUser) -> Result<()> {
    let user_id = user.id;
    state
        .write(move |conn| {
            Box::pin(async move {
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL",
                )
                .bind(now_ms())
                .bind(user_id)
                .execute(db)
                .await
                .map(crate::db::Done::from))?;
                Ok(())
            })
        })
        .await
}
