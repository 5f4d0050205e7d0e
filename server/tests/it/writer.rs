//! The one writer, on a real SQLite file: group commit keeps each job all-or-nothing, a caller
//! that goes away mid-write leaves no transaction behind, and neither does a pooled connection.

use std::time::Duration;

use server::{AppState, Error};

use crate::helpers::spawn;

async fn table(state: &AppState) {
    state
        .write(|c| {
            Box::pin(async move {
                server::db::with_db!(&mut *c, db => sqlx::query("CREATE TABLE IF NOT EXISTS t (v BIGINT NOT NULL)")
                    .execute(db)
                    .await
                    .map(server::db::Done::from))?;
                Ok(())
            })
        })
        .await
        .unwrap();
}

async fn insert(c: &mut server::db::Conn, v: i64) -> server::Result<()> {
    server::db::with_db!(c, db => sqlx::query("INSERT INTO t (v) VALUES ($1)")
        .bind(v)
        .execute(db)
        .await
        .map(server::db::Done::from))?;
    Ok(())
}

async fn values(state: &AppState) -> Vec<i64> {
    server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT v FROM t ORDER BY v")
        .fetch_all(db)
        .await)
    .unwrap()
}

#[tokio::test]
async fn concurrent_jobs_share_transactions_but_fail_alone() {
    let app = spawn().await;
    table(&app.state).await;
    // 300 writers at once: they end up in shared transactions. Every seventh writes, then fails.
    let mut tasks = Vec::new();
    for v in 0..300i64 {
        let state = app.state.clone();
        tasks.push(tokio::spawn(async move {
            state
                .write(move |c| {
                    Box::pin(async move {
                        insert(c, v).await?;
                        insert(c, v + 1000).await?;
                        if v % 7 == 0 {
                            return Err(Error::Conflict(format!("{v} fails")));
                        }
                        Ok(v)
                    })
                })
                .await
        }));
    }
    for (v, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(got) => assert_eq!(got, v as i64),
            Err(Error::Conflict(m)) => assert_eq!((m, v % 7), (format!("{v} fails"), 0)),
            Err(e) => panic!("{e:?}"),
        }
    }
    let expected: Vec<i64> = (0..300)
        .filter(|v| v % 7 != 0)
        .chain((0..300).filter(|v| v % 7 != 0).map(|v| v + 1000))
        .collect();
    assert_eq!(values(&app.state).await, expected);
}

#[tokio::test]
async fn a_caller_that_goes_away_mid_write_leaves_the_job_to_finish() {
    let app = spawn().await;
    table(&app.state).await;
    // The caller gives up after 20 ms; the job is still running, inside its transaction.
    let slow = app.state.write(|c| {
        Box::pin(async move {
            insert(c, 1).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            insert(c, 2).await
        })
    });
    assert!(tokio::time::timeout(Duration::from_millis(20), slow)
        .await
        .is_err());
    // The next write waits for it, then both are there: committed, nothing left open.
    app.state
        .write(|c| Box::pin(async move { insert(c, 3).await }))
        .await
        .unwrap();
    assert_eq!(values(&app.state).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_panicking_job_is_an_error_and_the_writer_goes_on() {
    let app = spawn().await;
    table(&app.state).await;
    let r: server::Result<()> = app
        .state
        .write(|c| {
            Box::pin(async move {
                insert(c, 1).await?;
                panic!("a bug in a job");
            })
        })
        .await;
    assert!(r.is_err());
    app.state
        .write(|c| Box::pin(async move { insert(c, 2).await }))
        .await
        .unwrap();
    assert_eq!(values(&app.state).await, vec![2]);
}

#[tokio::test]
async fn a_pooled_connection_left_inside_a_transaction_is_closed_not_reused() {
    let app = spawn().await;
    // SQLite's write lock: on Postgres, a connection idle in a transaction holds no lock that
    // would stop the writer.
    let Some(sqlite) = app.state.pool.as_sqlite() else {
        return;
    };
    table(&app.state).await;
    // What a cancelled `begin_with` in sqlx leaves behind: a connection holding SQLite's write
    // lock, going back to the pool.
    let mut conn = sqlite.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    // Writes go on at once (SQLite's busy timeout is 10 s: a held lock would show).
    tokio::time::timeout(
        Duration::from_secs(3),
        app.state
            .write(|c| Box::pin(async move { insert(c, 7).await })),
    )
    .await
    .expect("the write lock was released")
    .unwrap();
    assert_eq!(values(&app.state).await, vec![7]);
}

/// A change that cannot get its turn in time (the writer is held up) is answered "busy" and
/// withdrawn: it never runs later behind its caller's back, and the writer goes on.
#[tokio::test]
async fn a_write_that_waits_too_long_for_its_turn_is_withdrawn_and_never_runs() {
    let app = crate::helpers::spawn_with(|c| c.write_turn_wait = Duration::from_millis(300)).await;
    table(&app.state).await;
    // A long job holds the writer for a second.
    let slow = {
        let state = app.state.clone();
        tokio::spawn(async move {
            state
                .write(|c| {
                    Box::pin(async move {
                        insert(c, 1).await?;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(())
                    })
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = app
        .state
        .write(|c| Box::pin(async move { insert(c, 2).await }))
        .await;
    // Had it waited for the long job, it would have run and succeeded.
    assert!(matches!(waiting, Err(Error::Busy { .. })), "{waiting:?}");
    // The long job started before the deadline: it runs to the end.
    slow.await.unwrap().unwrap();
    app.state
        .write(|c| Box::pin(async move { insert(c, 3).await }))
        .await
        .unwrap();
    assert_eq!(
        values(&app.state).await,
        [1, 3],
        "the withdrawn write never ran"
    );
}
