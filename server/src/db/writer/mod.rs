//! The one writer: every change to the database runs in this task, on its own connection.
//!
//! Why a task of its own and not a transaction per request:
//! - **Cancellation.** A request can be dropped at any `.await` (the client hangs up). A
//!   transaction owned by the request would then be half-begun or half-done — sqlx 0.8 leaves a
//!   connection inside a transaction when `begin_with` is cancelled between its `BEGIN` and
//!   its check of the result, and that connection held SQLite's write lock for good. Here the
//!   request only waits for an answer: its work, once queued, runs to the end and is committed
//!   or rolled back whatever happens to the request.
//! - **Group commit.** Work that queues while a transaction is being written is done together
//!   in the next one: one `BEGIN … COMMIT` (and one WAL sync) for many one-point ingest
//!   requests. Each job runs inside a savepoint, so it stays all-or-nothing on its own: a job
//!   that fails is rolled back alone and its neighbours are committed.
//! - **Fairness.** Jobs are served in the order they came, whoever sent them: the dispatcher's
//!   bookkeeping waits behind at most one batch of ingest, never behind SQLite's busy handler,
//!   which sleeps and retries and can starve an unlucky writer for seconds.
//!
//! Beside it, a task of its own copies the WAL back into the database file every 250 ms, on
//! its own connection: the bulk of a checkpoint (and its fsync) never holds up a write. But a
//! checkpoint running beside a busy writer never catches up, so the WAL would never start from
//! the top again and grow without bound: when it has grown, the writer itself, between two
//! transactions and right after a background round, copies the few frames left and restarts
//! it (see `restart_wal`).

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::anyhow;
use futures_util::FutureExt;
use sqlx::ConnectOptions;
use tokio::sync::{mpsc, oneshot};

mod connection;
mod wal;

use self::{
    connection::{begin, close, exec, is_clean, reopen, Options},
    wal::{checkpoints, restart_wal},
};
use super::{Conn, Pool};
use crate::{clock::now_ms, Error, Result};

/// What a job returns: a future borrowing the writer's connection.
pub type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// Jobs that may wait for the writer. Past this, callers wait to enqueue (back-pressure);
/// a caller that gives up while waiting leaves nothing behind.
const QUEUE: usize = 4096;
/// Most jobs in one transaction: enough to amortise a commit, few enough that the first job of
/// a batch is not answered much later than it would be alone.
const MAX_BATCH: usize = 256;
/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// A handle on the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// How long a caller waits for its job to start before it is told the database is busy.
    turn_wait: Duration,
    /// When the transaction being written began (ms since the epoch); 0: idle.
    busy_since: Arc<AtomicI64>,
    /// The longest transaction since it was last taken, in microseconds (for the bench).
    longest_us: Arc<AtomicU64>,
    /// Transactions begun since the start (tests count what a quiet server writes).
    transactions: Arc<AtomicU64>,
}

/// Where a queued job stands; the caller and the writer race to move it on, once.
const WAITING: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

impl Writer {
    /// Opens the writer's own connection (same database, same settings as the pool's) and
    /// starts the task that owns it.
    pub async fn start(pool: &Pool, turn_wait: Duration) -> Result<Self, sqlx::Error> {
        let (options, checkpointer) = match pool {
            Pool::Sqlite(pool) => {
                let options = pool.connect_options();
                let checkpointer = options.connect().await?;
                // 4 MiB of page cache (16 before): what the writer touches again is the right
                // edge of the queue's tables and indexes. Measured alike — `bench throughput`
                // 11,507 / 11,640 deliveries/s against 11,005 / 11,568, `bench retention`
                // 2.26 s against 2.35 s — and 12 MiB less RSS under load (docs/webhooks.md).
                (
                    Options::Sqlite(options.as_ref().clone().pragma("cache_size", "-4000")),
                    Some(checkpointer),
                )
            }
            Pool::Postgres(pool) => (
                Options::Postgres(pool.connect_options().as_ref().clone()),
                None,
            ),
        };
        let (jobs, queue) = mpsc::channel(QUEUE);
        let restart = Arc::new(AtomicBool::new(false));
        let busy_since = Arc::new(AtomicI64::new(0));
        let longest_us = Arc::new(AtomicU64::new(0));
        let transactions = Arc::new(AtomicU64::new(0));
        // The writer has a thread of its own: however many requests the server's workers are
        // busy with (a flood of connections), a transaction once begun is never left waiting
        // for a worker while it holds the write lock. It ends when the last handle is gone.
        // Its connection is opened there too: a Postgres socket belongs to the runtime that
        // opened it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(sqlx::Error::Io)?;
        let (opened, open) = oneshot::channel();
        let (restart_, busy_since_, longest_us_, transactions_) = (
            restart.clone(),
            busy_since.clone(),
            longest_us.clone(),
            transactions.clone(),
        );
        std::thread::Builder::new()
            .name("labhook-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let conn = match options.connect().await {
                        Ok(conn) => conn,
                        Err(e) => {
                            let _ = opened.send(Err(e));
                            return;
                        }
                    };
                    if opened.send(Ok(())).is_ok() {
                        let counts = Counts {
                            busy_since: busy_since_,
                            longest_us: longest_us_,
                            transactions: transactions_,
                        };
                        run(conn, options, queue, restart_, counts).await;
                    }
                })
            })
            .map_err(sqlx::Error::Io)?;
        open.await.map_err(|_| sqlx::Error::WorkerCrashed)??;
        // SQLite's WAL is copied back by a task of its own; Postgres checkpoints by itself.
        if let Some(checkpointer) = checkpointer {
            tokio::spawn(checkpoints(checkpointer, jobs.downgrade(), restart));
        }
        Ok(Self {
            jobs,
            turn_wait,
            busy_since,
            longest_us,
            transactions,
        })
    }

    /// How many transactions it has begun since it started.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// The longest transaction written since the last call (the bench reports it per phase).
    pub fn take_longest(&self) -> Duration {
        Duration::from_micros(self.longest_us.swap(0, Ordering::Relaxed))
    }

    /// How long the transaction being written has taken so far; `None` when idle (readiness
    /// tells a writer stuck on one transaction).
    pub fn busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(Duration::from_millis((now_ms() - since).max(0) as u64)),
        }
    }

    /// Runs `work` in a write transaction and returns its result once that transaction is
    /// committed. If `work` fails, its changes are rolled back (and only its own).
    ///
    /// Cancellation-safe: dropping the returned future before the job was queued queues
    /// nothing; dropping it later lets the job run and commit all the same — its caller just
    /// does not hear of it.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
    {
        let (reply, mut answer) = oneshot::channel();
        let turn = Arc::new(AtomicU8::new(WAITING));
        let deadline = tokio::time::Instant::now() + self.turn_wait;
        let queued = Queued {
            work,
            reply,
            turn: turn.clone(),
        };
        match tokio::time::timeout_at(deadline, self.jobs.send(Box::new(queued))).await {
            Ok(sent) => sent.map_err(|_| stopped())?,
            Err(_) => return Err(turn_timed_out(self.turn_wait)),
        }
        if let Ok(answered) = tokio::time::timeout_at(deadline, &mut answer).await {
            return answered.map_err(|_| stopped())?;
        }
        // Its turn has not come: withdraw the job — unless it has just started, in which case
        // it runs to the end and its answer is awaited like any other.
        match turn.compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Err(turn_timed_out(self.turn_wait)),
            Err(_) => answer.await.map_err(|_| stopped())?,
        }
    }
}

fn turn_timed_out(waited: Duration) -> Error {
    tracing::warn!(
        ?waited,
        "a write waited too long for its turn and was withdrawn"
    );
    Error::Busy {
        retry_after: Duration::from_secs(1),
    }
}

fn stopped() -> Error {
    Error::Internal(anyhow!("the database writer has stopped"))
}

/// A queued piece of work, with its result type erased so that one queue holds them all.
trait Job: Send {
    /// Runs the work; what it returns says whether its changes may stand and answers the caller
    /// once the transaction is over.
    fn run<'c>(
        self: Box<Self>,
        conn: &'c mut Conn,
    ) -> Pin<Box<dyn Future<Output = Box<dyn Ran>> + Send + 'c>>;
    /// Answers without running: the transaction could not even begin.
    fn refuse(self: Box<Self>, why: Error);

    /// Claims the job's turn; false when its caller withdrew it (then it must not run).
    fn start(&self) -> bool;
}

/// A job that has run, waiting for its transaction's end.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// `committed` is how the transaction ended; a failed job answers with its own error.
    fn answer(self: Box<Self>, committed: Result<()>);
}

struct Queued<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T>>,
    turn: Arc<AtomicU8>,
}

struct Done<T> {
    result: Result<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<F, T> Job for Queued<F, T>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut Conn) -> WriteFuture<'c, T> + Send + 'static,
{
    fn run<'c>(
        self: Box<Self>,
        conn: &'c mut Conn,
    ) -> Pin<Box<dyn Future<Output = Box<dyn Ran>> + Send + 'c>> {
        let Queued { work, reply, .. } = *self;
        Box::pin(async move {
            // A panicking job must not take the writer (and with it every write) down.
            let result = match AssertUnwindSafe(work(conn)).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(Error::Internal(anyhow!("a database job panicked"))),
            };
            Box::new(Done { result, reply }) as Box<dyn Ran>
        })
    }

    fn refuse(self: Box<Self>, why: Error) {
        let _ = self.reply.send(Err(why));
    }

    fn start(&self) -> bool {
        self.turn
            .compare_exchange(WAITING, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl<T: Send> Ran for Done<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, committed: Result<()>) {
        let result = match (committed, self.result) {
            (Ok(()), result) => result,
            // The job's own error says more than the rollback it caused.
            (Err(_), Err(own)) => Err(own),
            (Err(e), Ok(_)) => Err(e),
        };
        // The caller may have gone away (hung up): its work stands all the same.
        let _ = self.reply.send(result);
    }
}

/// What the writer task keeps count of, shared with its handles.
struct Counts {
    busy_since: Arc<AtomicI64>,
    longest_us: Arc<AtomicU64>,
    transactions: Arc<AtomicU64>,
}

async fn run(
    mut conn: Conn,
    options: Options,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    restart: Arc<AtomicBool>,
    counts: Counts,
) {
    let Counts {
        busy_since,
        longest_us,
        transactions,
    } = counts;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    // Until every handle is gone: the server is stopping.
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        busy_since.store(now_ms(), Ordering::Relaxed);
        transactions.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let ended = commit_batch(&mut conn, &mut batch).await;
        if let Err(e) = &ended {
            tracing::error!(error = ?e, "a write transaction failed");
        }
        busy_since.store(0, Ordering::Relaxed);
        let took = started.elapsed();
        longest_us.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
        metrics::histogram!("labhook_writer_transaction_seconds").record(took.as_secs_f64());
        // Whatever happened, the connection must leave here outside any transaction: if it
        // cannot say so, it is replaced.
        if !is_clean(&mut conn, ended.is_ok()).await {
            tracing::warn!("the writer's connection was left inside a transaction; reopening it");
            conn = reopen(conn, &options).await;
        }
        if restart.swap(false, Ordering::AcqRel) {
            if let Some(sqlite) = conn.as_sqlite() {
                if let Err(e) = restart_wal(sqlite).await {
                    tracing::warn!(error = ?e, "restarting the WAL failed");
                }
            }
        }
    }
    close(conn).await;
}

/// One transaction for everything in `batch`; every job is answered, one way or another.
async fn commit_batch(conn: &mut Conn, batch: &mut Vec<Box<dyn Job>>) -> anyhow::Result<()> {
    if let Err(e) = begin(conn).await {
        let why = format!("{e:#}");
        for job in batch.drain(..) {
            job.refuse(busy(&why));
        }
        return Err(e);
    }
    // With one job, the transaction itself is its savepoint.
    let savepoints = batch.len() > 1;
    let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(batch.len());
    let mut broken = None;
    for job in batch.drain(..) {
        if !job.start() {
            // Withdrawn by its caller, who was told the database is busy.
            continue;
        }
        if broken.is_some() {
            job.refuse(Error::Internal(anyhow!(
                "an earlier job broke the transaction"
            )));
            continue;
        }
        if savepoints {
            if let Err(e) = exec(conn, "SAVEPOINT job").await {
                job.refuse(Error::Internal(anyhow!("cannot start a savepoint")));
                broken = Some(e);
                continue;
            }
        }
        let done = job.run(conn).await;
        if savepoints {
            let end = if done.succeeded() {
                exec(conn, "RELEASE job").await
            } else {
                match exec(conn, "ROLLBACK TO job").await {
                    Ok(()) => exec(conn, "RELEASE job").await,
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = end {
                broken = Some(e);
            }
        }
        ran.push(done);
    }
    let alone_and_failed = !savepoints && ran.iter().any(|r| !r.succeeded());
    let ended = match broken {
        Some(e) => Err(e),
        None if alone_and_failed => exec(conn, "ROLLBACK").await,
        None => exec(conn, "COMMIT").await,
    };
    match ended {
        Ok(()) => {
            for r in ran {
                r.answer(Ok(()));
            }
            Ok(())
        }
        Err(e) => {
            let _ = exec(conn, "ROLLBACK").await;
            let why = format!("{e:#}");
            for r in ran {
                r.answer(Err(busy(&why)));
            }
            Err(e)
        }
    }
}

/// What the callers of a failed transaction hear: the cause is logged once, by the writer.
fn busy(why: &str) -> Error {
    Error::Internal(anyhow!("the write transaction failed: {why}"))
}
