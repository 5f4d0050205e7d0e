//! What several instances on one Postgres database share besides the tables: **turns** (work
//! that one instance at a time may do, as advisory locks) and **news** (what one instance tells
//! the others after a commit, as `NOTIFY`). On SQLite one process serves the database, its one
//! writer orders everything, and both are no-ops: a turn is always free, news has no listener.

use sqlx::postgres::{PgListener, PgNotification};

use super::{Conn, Engine, Pool};

/// Work that one instance at a time may do. The number is the advisory lock's key (a constant
/// of Labhook's own, so that it meets no other application's locks on the same database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Fanning out new events: the debounce and settled states, and the pending cap, are read
    /// and written by one fan-out at a time, so they stay exact.
    FanOut,
    /// The hourly work: retention, auto-disable, expired sessions.
    Hourly,
    /// The clean-up that changes leave behind (deleted subscriptions, removed channels).
    CleanUp,
    /// The OPC UA sources' sessions (`sources`): one instance reads each instrument.
    Sources,
}

impl Turn {
    fn key(self) -> i64 {
        const LABHOOK: i64 = 0x4c61_6268_6f6f_6b00;
        LABHOOK
            + match self {
                Turn::FanOut => 0x10,
                Turn::Hourly => 0x11,
                Turn::CleanUp => 0x12,
                Turn::Sources => 0x13,
            }
    }
}

/// Takes `turn` for the rest of the transaction `conn` is in (the writer's): false when
/// another instance has it now — it is doing the same work, and this one can leave it. Never
/// waits: a writer waiting on another instance would hold up every write of its own.
pub async fn take_turn(conn: &mut Conn, turn: Turn) -> sqlx::Result<bool> {
    match conn.engine() {
        Engine::Sqlite => Ok(true),
        Engine::Postgres => {
            crate::db::with_db!(conn, db => sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(turn.key())
                .fetch_one(db)
                .await)
        }
    }
}

/// A turn held across several transactions (the hourly work), by a transaction of its own on
/// a pooled connection that does nothing else; given back when dropped — however the work
/// ends, a cancelled future too, since dropping the transaction rolls it back — or when the
/// instance dies and its connection closes.
pub struct HeldTurn {
    _tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

/// Holds `turn` if no other instance does (see [`HeldTurn`]); on SQLite it is always free.
pub async fn hold_turn(pool: &Pool, turn: Turn) -> sqlx::Result<Option<HeldTurn>> {
    let Pool::Postgres(pool) = pool else {
        return Ok(Some(HeldTurn { _tx: None }));
    };
    let mut tx = pool.begin().await?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(turn.key())
        .fetch_one(&mut *tx)
        .await?;
    Ok(taken.then_some(HeldTurn { _tx: Some(tx) }))
}

/// What one instance tells the others, each a `NOTIFY` channel of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News {
    /// New events were committed (sent by the database itself: a trigger on `events`).
    Events,
    /// Data points were committed; the payload names the channels (for waiting read-backs).
    Written,
    /// Device tokens were revoked or devices archived: cached tokens are looked up again.
    Tokens,
    /// A change that may take a webhook from someone (access, a subscription switched off,
    /// the feature switched off, a URL unregistered): prepared sends are checked again.
    Access,
}

impl News {
    pub const ALL: [News; 4] = [News::Events, News::Written, News::Tokens, News::Access];

    pub fn channel(self) -> &'static str {
        match self {
            News::Events => "labhook_events",
            News::Written => "labhook_written",
            News::Tokens => "labhook_tokens",
            News::Access => "labhook_access",
        }
    }

    fn from_channel(channel: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.channel() == channel)
    }
}

/// The most a payload may hold (Postgres refuses 8,000 bytes or more, and the instance's name
/// comes first); past it, news goes out with an empty payload, which listeners read as
/// "anything may have changed".
const MAX_PAYLOAD: usize = 7_000;

/// Tells the other instances `news` when the transaction `conn` is in commits (nothing on
/// SQLite). Postgres sends a notification only on commit, and folds identical ones of one
/// transaction into one.
pub async fn tell(conn: &mut Conn, news: News, payload: &str) -> sqlx::Result<()> {
    if conn.engine() == Engine::Sqlite {
        return Ok(());
    }
    let payload = if payload.len() > MAX_PAYLOAD {
        ""
    } else {
        payload
    };
    // Signed with this instance's name, so that its own listener passes it by.
    crate::db::with_db!(conn, db => sqlx::query("SELECT pg_notify($1, $2)")
        .bind(news.channel())
        .bind(format!("{} {payload}", this_instance()))
        .execute(db)
        .await
        .map(drop))
}

/// This process's name among the instances: its process id and start time, which no other
/// instance shares.
fn this_instance() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        format!("{:x}.{:x}", std::process::id(), started)
    })
}

/// Listens for the other instances' news (an instance's own is passed by, except new events,
/// which the database announces).
pub struct Listener(PgListener);

/// What a listener heard.
#[derive(Debug)]
pub enum Heard {
    News(News, String),
    /// The connection was lost and made again: whatever was said meanwhile is lost, so the
    /// listener must assume that anything changed.
    Reconnected,
}

impl Listener {
    /// A listener on a connection of its own; `None` on SQLite.
    pub async fn start(pool: &Pool) -> sqlx::Result<Option<Self>> {
        let Pool::Postgres(pool) = pool else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all(News::ALL.into_iter().map(News::channel))
            .await?;
        Ok(Some(Self(listener)))
    }

    /// The next news. On a lost connection sqlx connects again and listens again by itself;
    /// that is said as [`Heard::Reconnected`].
    pub async fn next(&mut self) -> sqlx::Result<Heard> {
        loop {
            match self.0.try_recv().await? {
                None => return Ok(Heard::Reconnected),
                Some(n) => {
                    if let Some(heard) = Self::read(&n) {
                        return Ok(heard);
                    }
                }
            }
        }
    }

    /// What a notification says, unless it is unknown or this instance's own (which it has
    /// acted on already). News the database itself sends (new events) carries no name.
    fn read(n: &PgNotification) -> Option<Heard> {
        let news = News::from_channel(n.channel())?;
        let payload = match n.payload().split_once(' ') {
            Some((from, _)) if from == this_instance() => return None,
            Some((_, payload)) => payload,
            None => n.payload(),
        };
        Some(Heard::News(news, payload.to_owned()))
    }
}
