//! The records commands (docs/records.md): `records-key` prints the installation's public key,
//! `sign-records` signs the chains' heads now, `verify-records` walks every chain.

use std::path::PathBuf;

use anyhow::bail;
use server::{
    db::Location,
    records::{self, verify::verify_all, PublicKey, RecordsKey},
    subscriptions::{key_file_of, read_key_file},
};

/// The records key, from the secrets key file the server uses.
fn records_key(database: &Location, key_file: Option<PathBuf>) -> anyhow::Result<RecordsKey> {
    let path = key_file_of(database, key_file);
    Ok(RecordsKey::of(&read_key_file(&path)?))
}

pub(super) fn print_key(database: Location, key_file: Option<PathBuf>) -> anyhow::Result<()> {
    println!("{}", records_key(&database, key_file)?.public());
    Ok(())
}

pub(super) async fn sign(database: Location, key_file: Option<PathBuf>) -> anyhow::Result<()> {
    let key = records_key(&database, key_file)?;
    let pool = server::db::connect(&database).await?;
    let done = records::checkpoint_all(&pool, &key).await?;
    println!("signed {} chain heads with {}", done.signed, key.public());
    Ok(())
}

pub(super) async fn verify(
    database: Location,
    public_key: Option<String>,
    key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let key = match public_key {
        Some(text) => PublicKey::parse(&text).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?,
        None => records_key(&database, key_file)?.public(),
    };
    let pool = server::db::connect(&database).await?;
    let reports = verify_all(&pool, &key).await?;
    println!(
        "{:>12}  {:<10} {:>9} {:>9} {:>11} {:>9}  verdict",
        "organisation", "chain", "links", "removed", "checkpoints", "unchained"
    );
    let mut problems = 0;
    for r in &reports {
        println!(
            "{:>12}  {:<10} {:>9} {:>9} {:>11} {:>9}  {}",
            r.organisation_id,
            r.chain.as_str(),
            r.links,
            r.removed,
            r.checkpoints,
            r.unchained,
            r.problem.as_deref().unwrap_or("sound"),
        );
        problems += usize::from(!r.is_sound());
    }
    if problems > 0 {
        bail!(
            "{problems} of {} chains are not sound (see above)",
            reports.len()
        );
    }
    println!("every chain is sound: {} chains, key {key}", reports.len());
    Ok(())
}
