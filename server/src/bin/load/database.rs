//! Where a run's database is: the tests' choice (`LABHOOK_TEST_ENGINE`: a SQLite file, or a
//! database on a scratch PostgreSQL), or a fresh database on the operator's own PostgreSQL
//! server (`--database postgres://…`), made for the run and dropped after it.

use std::{path::Path, sync::atomic::AtomicU32};

use sqlx::{Connection, PgConnection};

pub enum Databases {
    /// As the tests choose (`server::harness::process_database_args`).
    Harness,
    /// A PostgreSQL server given by URL: a database of its own per run.
    Server(url::Url),
}

/// A run's database: the arguments before and after `serve`, and what to drop afterwards.
pub struct Database {
    pub args: Vec<String>,
    pub serve_args: Vec<String>,
    /// `(server URL, database name)` when it was made here.
    made: Option<(url::Url, String)>,
}

impl Databases {
    pub fn parse(url: &str) -> Self {
        let url = url::Url::parse(url).expect("--database postgres://user:password@host/database");
        assert!(
            matches!(url.scheme(), "postgres" | "postgresql"),
            "--database takes a PostgreSQL URL (without it: LABHOOK_TEST_ENGINE chooses)"
        );
        Databases::Server(url)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Databases::Server(_))
            || server::harness::engine() == server::db::Engine::Postgres
    }

    /// A fresh, empty database for one run; `dir` is the run's scratch directory.
    pub async fn fresh(&self, dir: &Path) -> Database {
        match self {
            Databases::Harness => {
                let (args, serve_args) =
                    server::harness::process_database_args(&dir.join("load.db"));
                Database {
                    args,
                    serve_args,
                    made: None,
                }
            }
            Databases::Server(url) => {
                static RUNS: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "labhook_load_{}_{}",
                    std::process::id(),
                    RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                let mut admin = PgConnection::connect(url.as_str())
                    .await
                    .expect("the PostgreSQL server given by --database answers");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("CREATE DATABASE (the --database user needs CREATEDB)");
                let mut run = url.clone();
                run.set_path(&name);
                Database {
                    args: vec!["--database".into(), run.to_string()],
                    serve_args: vec![
                        "--secrets-key-file".into(),
                        dir.join("secrets.key").display().to_string(),
                    ],
                    made: Some((url.clone(), name)),
                }
            }
        }
    }
}

impl Database {
    /// Drops the database made for the run (its servers stopped first).
    pub async fn drop_made(&self) {
        let Some((url, name)) = &self.made else {
            return;
        };
        if let Ok(mut admin) = PgConnection::connect(url.as_str()).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
}

/// The memory of every `postgres` process on this machine now, in MiB: the sum of their
/// proportional set sizes, so that shared buffers count once (0 when the server runs
/// elsewhere).
pub fn postgres_memory_mib() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let kib: u64 = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup
                .lines()
                .find(|l| l.starts_with("Pss:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum();
    kib / 1024
}
