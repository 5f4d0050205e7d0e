//! `retention`: how long pruning holds the write turn. Fills the database with old history —
//! delivered deliveries with an attempt each, their events, data points — prunes it all, and
//! prints the longest any one window held the writer (maintenance must stay short: ingest
//! and deliveries wait behind it).

use std::time::Instant;

use server::retention::{prune, Cutoffs};

use super::{args::Args, setup};

pub async fn retention(args: Args) {
    let rows = args.events.max(1000) as i64 * 50;
    let instance = setup::start().await;
    let state = &instance.state;
    let device = instance.device_id(setup::HOTPLATE).await;
    let channel = instance.channel_id(device, "temperature").await;
    instance.register("http://127.0.0.1:9/").await;
    let subscription = instance
        .subscribe(
            "http://127.0.0.1:9/old",
            &[channel],
            &["data_point.created"],
            vec![],
        )
        .await
        .id;
    let filled = Instant::now();
    let old = 1_000_000_000_000i64; // 2001: older than any retention
    state
        .write(move |conn| {
            Box::pin(async move {
                for sql in [
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
                     INSERT INTO events (organisation_id, device_id, channel_id, event_type, occurred_at, created_at, payload)
                     SELECT 1, $2, $3, 'data_point.created', $4 + i, $4 + i, '{\"value\": 1}' FROM n",
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
                     INSERT INTO deliveries (subscription_id, event_id, webhook_id, status, attempts, created_at, updated_at)
                     SELECT $5, i, 'msg_' || i, 'delivered', 1, $4 + i, $4 + i FROM n",
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
                     INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, request_headers, response_status, response_headers, response_body)
                     SELECT i, 1, $4 + i, 3, '{}', 200, '{}', 'ok' FROM n",
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1 * 4)
                     INSERT INTO data_points (channel_id, timestamp, value) SELECT $3, $4 + i, i FROM n",
                ] {
                    server::db::with_db!(conn, db => sqlx::query(sql)
                        .bind(rows)
                        .bind(device)
                        .bind(channel)
                        .bind(old)
                        .bind(subscription)
                        .execute(db)
                        .await
                        .map(drop))?;
                }
                server::db::with_db!(conn, db => sqlx::query("UPDATE dispatcher_cursor SET last_event_id = $1")
                    .bind(rows + 1_000_000)
                    .execute(db)
                    .await
                    .map(drop))?;
                Ok(())
            })
        })
        .await
        .expect("old history written");
    println!(
        "retention: {rows} old deliveries (with attempts and events) and {} data points written in {:.1} s",
        rows * 4,
        filled.elapsed().as_secs_f64()
    );
    let now = server::clock::now_ms();
    let started = Instant::now();
    let pruned = prune(
        state,
        Cutoffs {
            deliveries: now - 30 * 86_400_000,
            data_points: Some(now - 365 * 86_400_000),
        },
    )
    .await
    .expect("pruned");
    println!(
        "pruned {} deliveries, {} events, {} data points in {:.2} s; longest window held the writer {:.1} ms",
        pruned.deliveries,
        pruned.events,
        pruned.data_points,
        started.elapsed().as_secs_f64(),
        pruned.longest_window.as_secs_f64() * 1000.0
    );
}
