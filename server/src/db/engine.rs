//! Either engine behind one type: the services hold a [`Pool`] (reads) and are handed a
//! [`Conn`] (the writer's connection, one taken from the pool, or a transaction), and run each
//! statement with [`with_db!`](crate::with_db), which writes it once and compiles it for both
//! drivers.
//!
//! Why not sqlx's `Any` driver: it copies every row into an engine-neutral form (on the hot
//! path of ingest and dispatch), it decodes a SQLite integer expression (`EXISTS …`) as no
//! `bool`, and it hides the SQLite handle that the writer asks whether a transaction is still
//! open. Here each arm runs on its native driver; the only cost is one `match`.

use sqlx::{
    pool::PoolConnection, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool,
    Transaction,
};

/// Which engine a pool or connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The statement written for this engine, where the two differ; the owning module keeps
    /// both side by side: `conn.engine().pick(SQLITE_FORM, POSTGRES_FORM)`.
    pub fn pick<T>(self, sqlite: T, postgres: T) -> T {
        match self {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        }
    }
}

/// The pool of reading connections.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One arm per engine, each holding that driver's executor.
pub enum Split<S, P> {
    Sqlite(S),
    Postgres(P),
}

impl Pool {
    pub fn engine(&self) -> Engine {
        match self {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    pub fn split(&self) -> Split<&SqlitePool, &PgPool> {
        match self {
            Pool::Sqlite(p) => Split::Sqlite(p),
            Pool::Postgres(p) => Split::Postgres(p),
        }
    }

    /// A connection of the pool's, for several reads in a row.
    pub async fn acquire(&self) -> sqlx::Result<Conn> {
        Ok(match self {
            Pool::Sqlite(p) => Conn::SqlitePooled(p.acquire().await?),
            Pool::Postgres(p) => Conn::PostgresPooled(p.acquire().await?),
        })
    }

    /// A write transaction outside the writer, for the command line and start-up (never for a
    /// request: see `db::writer`). On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that it cannot fail halfway on a lock taken by the server.
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        Ok(Tx(match self {
            Pool::Sqlite(p) => Conn::SqliteTx(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Conn::PostgresTx(p.begin().await?),
        }))
    }

    /// The Postgres pool, for what only Postgres has (instances sharing it); `None` on SQLite.
    pub fn as_postgres(&self) -> Option<&PgPool> {
        match self {
            Pool::Sqlite(_) => None,
            Pool::Postgres(p) => Some(p),
        }
    }

    /// The SQLite pool, for what only SQLite has (its file, its pragmas); `None` on Postgres.
    pub fn as_sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }
}

impl From<SqlitePool> for Pool {
    fn from(pool: SqlitePool) -> Self {
        Pool::Sqlite(pool)
    }
}

impl From<PgPool> for Pool {
    fn from(pool: PgPool) -> Self {
        Pool::Postgres(pool)
    }
}

/// A connection on either engine.
#[derive(Debug)]
pub enum Conn {
    /// A connection of its own (the writer's).
    Sqlite(SqliteConnection),
    SqlitePooled(PoolConnection<Sqlite>),
    SqliteTx(Transaction<'static, Sqlite>),
    Postgres(PgConnection),
    PostgresPooled(PoolConnection<Postgres>),
    PostgresTx(Transaction<'static, Postgres>),
}

impl Conn {
    pub fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) | Conn::SqlitePooled(_) | Conn::SqliteTx(_) => Engine::Sqlite,
            Conn::Postgres(_) | Conn::PostgresPooled(_) | Conn::PostgresTx(_) => Engine::Postgres,
        }
    }

    pub fn split(&mut self) -> Split<&mut SqliteConnection, &mut PgConnection> {
        match self {
            Conn::Sqlite(c) => Split::Sqlite(c),
            Conn::SqlitePooled(c) => Split::Sqlite(&mut **c),
            Conn::SqliteTx(t) => Split::Sqlite(&mut **t),
            Conn::Postgres(c) => Split::Postgres(c),
            Conn::PostgresPooled(c) => Split::Postgres(&mut **c),
            Conn::PostgresTx(t) => Split::Postgres(&mut **t),
        }
    }

    /// The SQLite connection, for what only SQLite has; `None` on Postgres.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match self.split() {
            Split::Sqlite(c) => Some(c),
            Split::Postgres(_) => None,
        }
    }
}

/// A transaction begun with [`Pool::begin_write`]; rolled back when dropped uncommitted.
/// Dereferences to its [`Conn`].
#[derive(Debug)]
pub struct Tx(Conn);

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self.0 {
            Conn::SqliteTx(t) => t.commit().await,
            Conn::PostgresTx(t) => t.commit().await,
            _ => unreachable!("a Tx always holds a transaction"),
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

/// What a statement that returns no rows did, on either engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl From<sqlx::sqlite::SqliteQueryResult> for Done {
    fn from(r: sqlx::sqlite::SqliteQueryResult) -> Self {
        Done {
            rows_affected: r.rows_affected(),
        }
    }
}

impl From<sqlx::postgres::PgQueryResult> for Done {
    fn from(r: sqlx::postgres::PgQueryResult) -> Self {
        Done {
            rows_affected: r.rows_affected(),
        }
    }
}

/// Runs a statement on whichever engine `$db` (a `&Pool`, a `&mut Conn` or a `&mut Tx`) is
/// on: `$body` is compiled once per driver with `db` bound to that driver's executor.
///
/// ```ignore
/// let n: i64 = with_db!(pool, db => sqlx::query_scalar("SELECT count(*) FROM devices")
///     .fetch_one(db)
///     .await)?;
/// ```
///
/// `with_db!(conn, db, engine => …)` also binds `engine`, for the statements whose text
/// differs (see [`dialect`](crate::db::dialect)).
#[macro_export]
macro_rules! with_db {
    ($db:expr, $c:ident => $body:expr) => {
        match ($db).split() {
            $crate::db::Split::Sqlite($c) => $body,
            $crate::db::Split::Postgres($c) => $body,
        }
    };
    ($db:expr, $c:ident, $e:ident => $body:expr) => {
        match ($db).split() {
            $crate::db::Split::Sqlite($c) => {
                let $e = $crate::db::Engine::Sqlite;
                $body
            }
            $crate::db::Split::Postgres($c) => {
                let $e = $crate::db::Engine::Postgres;
                $body
            }
        }
    };
}
