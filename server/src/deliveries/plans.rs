//! The statements the pages read a delivery log and the overview's figures with, planned by
//! SQLite on a migrated file: none may read a big table whole (a `SCAN` of it, or a range of its
//! rowids) or sort its rows (a temporary B-tree for the order) — with a million deliveries
//! either costs a second per page. `EXPLAIN QUERY PLAN` shows the shape without the million rows;
//! what the planner picks with a real table's statistics can differ (it did for the log, which
//! is why that statement names its index), and `bench pages` measures that.

use crate::{
    db::{Engine, Pool},
    paging::Keyset,
};

/// The tables that grow with use.
const BIG: &[&str] = &[
    "deliveries",
    "delivery_attempts",
    "events",
    "data_points",
    "audit_log",
];

/// The plan's steps of `statement`, with every `$n` bound to NULL.
async fn plan(pool: &Pool, statement: &str) -> Vec<String> {
    let Pool::Sqlite(db) = pool else {
        unreachable!("BUG: planned on SQLite")
    };
    let parameters = (1..=20)
        .rev()
        .find(|n| statement.contains(&format!("${n}")))
        .unwrap_or(0);
    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(Box::leak(
        format!("EXPLAIN QUERY PLAN {statement}").into_boxed_str(),
    ));
    for _ in 0..parameters {
        query = query.bind(None::<i64>);
    }
    query
        .fetch_all(db)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"))
        .into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect()
}

/// The steps that read a big table whole or sort it; `aliases` names the tables as the statement
/// does.
fn whole_reads(steps: &[String], aliases: &[(&str, &str)]) -> Vec<String> {
    let big = |name: &str| {
        let table = aliases
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, table)| *table);
        BIG.contains(&table)
    };
    let sorts_big = steps.iter().any(|s| s.contains("TEMP B-TREE"))
        && steps
            .iter()
            .filter_map(|s| {
                s.strip_prefix("SCAN ")
                    .or_else(|| s.strip_prefix("SEARCH "))
            })
            .any(|s| big(s.split_whitespace().next().unwrap_or_default()));
    // A range of rowids is the whole table read in order until enough rows matched.
    steps
        .iter()
        .filter(|s| {
            let scan = s
                .strip_prefix("SCAN ")
                .map(|rest| rest.split_whitespace().next());
            let rowids = s.strip_prefix("SEARCH ").filter(|rest| {
                rest.contains("INTEGER PRIMARY KEY (rowid<")
                    || rest.contains("INTEGER PRIMARY KEY (rowid>")
            });
            scan.flatten().is_some_and(big)
                || rowids
                    .is_some_and(|rest| big(rest.split_whitespace().next().unwrap_or_default()))
        })
        .cloned()
        .chain(sorts_big.then(|| format!("a sort: {steps:?}")))
        .collect()
}

#[tokio::test]
async fn the_pages_read_deliveries_through_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::connect(&crate::domain::database::Location::Sqlite(
        dir.path().join("plans.db"),
    ))
    .await
    .expect("the database opens");
    let aliases = [("d", "deliveries"), ("x", "deliveries"), ("e", "events")];
    let statements = [
        (
            "the newest slice of a delivery log",
            super::log::slice_statement(Engine::Sqlite, Keyset::NEWEST),
        ),
        (
            "an older slice",
            super::log::slice_statement(Engine::Sqlite, Keyset::Before(1_000)),
        ),
        (
            "a newer slice",
            super::log::slice_statement(Engine::Sqlite, Keyset::After(1_000)),
        ),
        (
            "the overview's last deliveries",
            super::log::last_of_statement(Engine::Sqlite),
        ),
        (
            "the overview's health",
            super::health::health_statement(Engine::Sqlite),
        ),
        (
            "the hourly chart",
            super::health::per_hour_statement(Engine::Sqlite).to_owned(),
        ),
    ];
    for (what, statement) in statements {
        let steps = plan(&pool, &statement).await;
        let whole = whole_reads(&steps, &aliases);
        assert!(
            whole.is_empty(),
            "{what} reads a big table whole: {whole:?}\nplan: {steps:#?}"
        );
    }
}

#[tokio::test]
async fn a_whole_read_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::connect(&crate::domain::database::Location::Sqlite(
        dir.path().join("plans.db"),
    ))
    .await
    .expect("the database opens");
    let sorted = "SELECT id FROM deliveries WHERE subscription_id = $1 ORDER BY CASE WHEN $2 THEN id ELSE -id END LIMIT 25";
    let scanned = "SELECT id FROM deliveries d WHERE d.status = $1";
    for statement in [sorted, scanned] {
        let steps = plan(&pool, statement).await;
        assert!(
            !whole_reads(&steps, &[("d", "deliveries")]).is_empty(),
            "{statement}: {steps:?}"
        );
    }
}
