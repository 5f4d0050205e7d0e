//! `labhook migrate-to-postgres`: an installation's SQLite file copied into an empty
//! PostgreSQL database (see `server::db::copy` and docs/postgres.md).

use anyhow::bail;
use server::db::Location;

pub(super) async fn migrate_to_postgres(database: Location, to: String) -> anyhow::Result<()> {
    let Location::Sqlite(file) = database else {
        bail!("--database names the SQLite file to copy from; {database} is not one");
    };
    let Ok(Location::Postgres(url)) = to.parse::<Location>() else {
        bail!("--to names the PostgreSQL database to copy into: postgres://user@host/database");
    };
    if !file.exists() {
        bail!("there is no database at {} to copy", file.display());
    }
    // A server writing meanwhile would make the copy out of date the moment it ends.
    let _lock = server::db::lock_for_serving(&file)?;
    let source = server::db::open(&file).await?;
    let Some(source) = source.as_sqlite() else {
        unreachable!("BUG: a file opens as SQLite")
    };
    let target = server::db::postgres::open(&url, 2).await?;
    let copied = server::db::copy::sqlite_to_postgres(source, &target).await?;
    let shown = Location::Postgres(url);
    for (table, rows) in &copied.tables {
        println!("{table:<24} {rows:>10}");
    }
    let key = file.with_extension("secrets.key");
    println!(
        "copied {} rows in {} tables from {} to {shown}, each table counted on both sides.\n\
         Serve it with: labhook --database <that URL> serve --secrets-key-file {}\n\
         (the same key file: the secrets stay sealed with it; give every instance a copy)",
        copied.rows(),
        copied.tables.len(),
        file.display(),
        key.display(),
    );
    Ok(())
}
