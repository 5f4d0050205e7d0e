//! Organisations and their users.

use crate::db::{Conn, Pool};

use crate::{
    auth::Hashing,
    clock::now_ms,
    domain::{parse_name, Email, Password, Role},
    error::ResultExt,
    Error, Result,
};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
}

/// A user to be created, already parsed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub organisation_id: i64,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password: Password,
}

pub async fn create_organisation(pool: &Pool, name: &str) -> Result<Organisation> {
    let name = parse_name("organisation", name, 100)?;
    let id: i64 = crate::db::with_db!(pool, db => sqlx::query_scalar(
        "INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id",
    )
    .bind(&name)
    .bind(now_ms())
    .fetch_one(db)
    .await)
    .on_unique_violation("organisations.name", || {
        Error::Conflict(format!("An organisation named {name:?} already exists."))
    })?;
    Ok(Organisation { id, name })
}

pub async fn find_organisation_by_name(pool: &Pool, name: &str) -> Result<Option<Organisation>> {
    Ok(
        crate::db::with_db!(pool, db => sqlx::query_as("SELECT id, name FROM organisations WHERE name = $1")
            .bind(name.trim())
            .fetch_optional(db)
            .await)?,
    )
}

pub async fn organisation_count(pool: &Pool) -> Result<i64> {
    Ok(
        crate::db::with_db!(pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM organisations")
        .fetch_one(db)
        .await)?,
    )
}

pub async fn create_user(pool: &Pool, user: NewUser) -> Result<i64> {
    // Seeding and the command line: no server's pool to share, one hash at a time.
    let hash = Hashing::one_at_a_time().hash(&user.password).await?;
    let mut conn = pool.acquire().await?;
    insert_user(&mut conn, &user, hash).await
}

/// Adds a user whose password is already hashed, inside the caller's transaction.
pub async fn insert_user(conn: &mut Conn, user: &NewUser, password_hash: String) -> Result<i64> {
    crate::db::with_db!(conn, db => sqlx::query_scalar(
        "INSERT INTO users (organisation_id, email, name, role, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user.organisation_id)
    .bind(user.email.as_str())
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(now_ms())
    .fetch_one(db)
    .await)
    .on_unique_violation("users.email", || {
        Error::Conflict(format!(
            "A user with the email {} already exists.",
            user.email
        ))
    })
}
