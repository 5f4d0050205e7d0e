//! The records commands (docs/records.md): `records-key` prints the installation's public key,
//! `sign-records` signs the chains' heads now, `verify-records` walks every chain,
//! `export-records` writes a range as JSON Lines, `verify-export` checks one offline.

use std::path::PathBuf;

use anyhow::bail;
use anyhow::Context;
use server::{
    clock::now_ms,
    db::Location,
    orgs,
    records::{
        self,
        export::{parse_time, verify_export as check_export, ExportRequest},
        verify::verify_all,
        Chain, PublicKey, RecordsKey,
    },
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
        "{:<24} {:<10} {:>9} {:>9} {:>11} {:>9}  verdict",
        "organisation", "chain", "links", "removed", "checkpoints", "unchained"
    );
    let mut problems = 0;
    for r in &reports {
        println!(
            "{:<24} {:<10} {:>9} {:>9} {:>11} {:>9}  {}",
            shorten(&format!("{} (#{})", r.organisation, r.organisation_id)),
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

pub(super) struct ExportArgs {
    pub organisation: String,
    pub chain: String,
    pub from: String,
    pub to: Option<String>,
    pub pdf: bool,
    pub output: Option<PathBuf>,
}

pub(super) async fn export(
    database: Location,
    args: ExportArgs,
    key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let key = records_key(&database, key_file)?;
    let chain = Chain::parse(&args.chain).expect("BUG: clap allows only known chains");
    let from = parse_time(&args.from, "--from")?;
    let to = match &args.to {
        Some(to) => parse_time(to, "--to")?,
        None => now_ms(),
    };
    let pool = server::db::connect(&database).await?;
    let org = orgs::find_organisation_by_name(&pool, &args.organisation)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no organisation named {:?}", args.organisation))?;
    let request = ExportRequest::new(org.id, chain, from, to)?;
    if args.pdf {
        let bytes = records::pdf::export_pdf(&pool, &key, request).await?;
        match &args.output {
            Some(path) => std::fs::write(path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?,
            None => {
                use std::io::Write;
                std::io::stdout()
                    .write_all(&bytes)
                    .context("writing the PDF")?
            }
        }
        eprintln!(
            "wrote a PDF of {:?}'s {} chain ({} bytes)",
            org.name,
            chain.as_str(),
            bytes.len()
        );
        return Ok(());
    }
    let done = match &args.output {
        Some(path) => {
            let mut file = tokio::fs::File::create(path)
                .await
                .with_context(|| format!("creating {}", path.display()))?;
            records::export::export(&pool, &key, request, &mut file).await?
        }
        None => records::export::export(&pool, &key, request, &mut tokio::io::stdout()).await?,
    };
    eprintln!(
        "exported {} records, {} checkpoints and {} removals of {:?}'s {} chain",
        done.records,
        done.checkpoints,
        done.removals,
        org.name,
        chain.as_str()
    );
    Ok(())
}

pub(super) fn verify_export(file: &std::path::Path, public_key: &str) -> anyhow::Result<()> {
    let key = PublicKey::parse(public_key).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let report = check_export(&text, &key);
    let chain = report.chain.map_or("?", Chain::as_str);
    match &report.problem {
        None => {
            println!(
                "sound: {:?}'s {chain} chain, {} records, {} removed on purpose, {} checkpoints matched; sealed by {key}",
                report.organisation, report.records, report.removed, report.checkpoints
            );
            Ok(())
        }
        Some(problem) => bail!("{} is not sound: {problem}", file.display()),
    }
}

/// An organisation's name cut to its column, so that long names keep the table aligned.
fn shorten(name: &str) -> String {
    if name.chars().count() <= 24 {
        name.to_owned()
    } else {
        format!("{}…", name.chars().take(23).collect::<String>())
    }
}
