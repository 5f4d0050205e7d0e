//! The readable copy of an export (21 CFR 11.10(b)): the same range as the JSON Lines export,
//! made from it, set as a PDF — organisation, range, each entry with its time, who, what, the
//! fields it changed (before -> after), and its link's hash; at the end the chain's head in the
//! range signed with the records key, and how to verify it.
//!
//! Set in the PDF standard fonts (Courier), so nothing is shipped or embedded; text outside
//! their Windows-1252 characters is shown as `?`.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use serde_json::Value as Json;

use super::{checkpoint, export, Chain, RecordsKey};
use crate::{
    db::Pool,
    domain::{difference::difference, TimeZoneName},
    Error, Result,
};

/// The most links one PDF holds: a document for people, not an archive (that is the JSON
/// Lines export).
pub const MOST_RECORDS: i64 = 5_000;

const PAGE: (f32, f32) = (595.0, 842.0); // A4
const MARGIN: f32 = 48.0;
const SIZE: f32 = 8.0;
const LEADING: f32 = 10.5;
/// Courier's advance is 0.6 em: the characters a line holds.
const COLUMNS: usize = ((PAGE.0 - 2.0 * MARGIN) / (SIZE * 0.6)) as usize;
const LINES_PER_PAGE: usize = ((PAGE.1 - 2.0 * MARGIN) / LEADING) as usize - 2;

/// One line of the document.
struct Line {
    text: String,
    bold: bool,
}

/// The PDF of `request`. Refused (in words) past [`MOST_RECORDS`] links.
pub async fn export_pdf(
    pool: &Pool,
    key: &RecordsKey,
    request: export::ExportRequest,
) -> Result<Vec<u8>> {
    let links = export::count(pool, request).await?;
    if links > MOST_RECORDS {
        return Err(Error::TooLarge(format!(
            "This range holds {links} records; a PDF holds at most {MOST_RECORDS}. Choose a shorter range, or export JSON Lines."
        )));
    }
    let mut jsonl = Vec::new();
    export::export(pool, key, request, &mut jsonl).await?;
    let text = String::from_utf8(jsonl)
        .map_err(|e| anyhow::Error::new(e).context("reading the export back"))?;
    let lines: Vec<Json> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| anyhow::Error::new(e).context("reading the export back"))?;
    Ok(render(&lines, key))
}

/// Sets the export's lines as a PDF.
fn render(export: &[Json], key: &RecordsKey) -> Vec<u8> {
    let header = &export[0];
    let chain = header["chain"]
        .as_str()
        .and_then(Chain::parse)
        .unwrap_or(Chain::Audit);
    let org = header["organisation"].as_str().unwrap_or_default();
    let zone = TimeZoneName::from_stored(header["time_zone"].as_str().unwrap_or("UTC"));
    let when = |ms: Option<i64>| match ms {
        Some(ms) if zone.as_str() != "UTC" => format!("{} ({})", zone.local(ms), utc(Some(ms))),
        _ => utc(ms),
    };
    let org_id = header["organisation_id"].as_i64().unwrap_or_default();
    let exported_at = header["exported_at"].as_i64().unwrap_or_default();
    let title = match chain {
        Chain::Audit => "Audit trail",
        Chain::Deliveries => "Delivery log",
    };
    let mut out: Vec<Line> = Vec::new();
    let mut push = |text: String, bold: bool| {
        for (i, piece) in wrap(&text, COLUMNS).into_iter().enumerate() {
            out.push(Line {
                text: if i == 0 {
                    piece
                } else {
                    format!("    {piece}")
                },
                bold,
            });
        }
    };
    push(format!("Labhook · {title} · {org}"), true);
    push(
        format!(
            "Range: {} – {}",
            when(header["from"].as_i64()),
            when(header["to"].as_i64())
        ),
        false,
    );
    push(
        format!(
            "Times in the organisation's time zone ({zone}){}",
            if zone.as_str() == "UTC" {
                ""
            } else {
                " and in UTC"
            }
        ),
        false,
    );
    push(format!("Exported: {}", when(Some(exported_at))), false);
    let records: Vec<&Json> = export.iter().filter(|l| l["type"] == "record").collect();
    let removals = export.iter().filter(|l| l["type"] == "removal").count();
    let checkpoints = export.iter().filter(|l| l["type"] == "checkpoint").count();
    push(
        format!(
            "Records: {} · {} · {checkpoints} signed checkpoints · {removals} signed removals in range",
            records.len(),
            match (header["first_seq"].as_i64(), header["last_seq"].as_i64()) {
                (Some(first), Some(last)) => format!("links {first}–{last} of the chain"),
                _ => "no links".to_owned(),
            },
        ),
        false,
    );
    push(String::new(), false);
    for record in &records {
        let seq = record["seq"].as_i64().unwrap_or_default();
        match chain {
            Chain::Audit => {
                push(
                    format!(
                        "#{seq}  {}  {}  {} {}",
                        when(record["at"].as_i64()),
                        record["actor"].as_str().unwrap_or_default(),
                        record["kind"].as_str().unwrap_or_default(),
                        record["action"].as_str().unwrap_or_default(),
                    ),
                    true,
                );
                push(
                    format!("  {}", record["subject"].as_str().unwrap_or_default()),
                    false,
                );
                for change in difference(record["before"].as_str(), record["after"].as_str()) {
                    let field = if change.field.is_empty() {
                        "value".to_owned()
                    } else {
                        change.field
                    };
                    push(
                        format!(
                            "  {field}: {} -> {}",
                            change.before.as_deref().unwrap_or("—"),
                            change.after.as_deref().unwrap_or("—"),
                        ),
                        false,
                    );
                }
                if let Some(reason) = record["reason"].as_str() {
                    push(format!("  reason: {}", reason.replace('\n', " / ")), false);
                }
            }
            Chain::Deliveries => {
                let outcome = match (
                    record["response_status"].as_i64(),
                    record["error_kind"].as_str(),
                ) {
                    (Some(status), _) => format!("answered {status}"),
                    (None, Some(kind)) => format!(
                        "failed: {kind} {}",
                        record["error_message"].as_str().unwrap_or_default()
                    ),
                    (None, None) => "no answer".to_owned(),
                };
                push(
                    format!(
                        "#{seq}  {}  delivery {} attempt {}  {outcome} in {} ms",
                        when(record["started_at"].as_i64()),
                        record["delivery_id"],
                        record["number"],
                        record["duration_ms"],
                    ),
                    true,
                );
                push(
                    format!(
                        "  body sent: SHA-256 {}",
                        record["request_body_sha256"].as_str().unwrap_or("—")
                    ),
                    false,
                );
                if let Some(body) = record["response_body"].as_str().filter(|b| !b.is_empty()) {
                    let shown: String = body.chars().take(300).collect();
                    let more = if shown.len() < body.len() { " …" } else { "" };
                    push(format!("  answer: {shown}{more}"), false);
                }
            }
        }
        push(
            format!(
                "  link hash {}",
                record["hash"].as_str().unwrap_or_default()
            ),
            false,
        );
    }
    if records.is_empty() {
        push("Nothing was recorded in this range.".into(), false);
    }
    push(String::new(), false);
    push("How to verify".into(), true);
    if let Some(last) = records.last() {
        let (seq, head) = (
            last["seq"].as_i64().unwrap_or_default(),
            last["hash"].as_str().unwrap_or_default(),
        );
        let signature = key.sign(&checkpoint::message(org_id, chain, seq, head, exported_at));
        push(
            format!("The chain's head in this range: link {seq}, hash {head}"),
            false,
        );
        push(
            format!(
                "Signed by this installation (Ed25519, over \"labhook.checkpoint.v1\\n{org_id}\\n{}\\n{seq}\\n<hash>\\n{exported_at}\"): {signature}",
                chain.as_str()
            ),
            false,
        );
    }
    push(format!("Public key: {}", key.public()), false);
    push(
        format!(
            "Export the same range as JSON Lines (the page's Export, or labhook export-records --organisation \"{org}\" --chain {} --from … --to …) and run: labhook verify-export FILE --public-key {}. It checks every link, checkpoint and removal and the file's seal; the hashes above match the file's.",
            chain.as_str(),
            key.public()
        ),
        false,
    );
    typeset(&out, &format!("Labhook {title} · {org}"))
}

/// Breaks text into lines of at most [`COLUMNS`] characters (the continuation lines get an
/// indent of four), at spaces where it can.
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    let mut width = columns;
    while rest.len() > width {
        let cut = rest[..width]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|&i| i > width / 2)
            .unwrap_or(width);
        lines.push(rest[..cut].iter().collect::<String>().trim_end().to_owned());
        rest = rest[cut..]
            .iter()
            .copied()
            .skip_while(|c| *c == ' ')
            .collect();
        width = columns - 4;
    }
    lines.push(rest.into_iter().collect());
    lines
}

fn utc(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// Windows-1252 (the standard fonts' WinAnsiEncoding); anything else is `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

/// Lays the lines out on A4 pages, with a footer on each.
fn typeset(lines: &[Line], title: &str) -> Vec<u8> {
    let pages: Vec<&[Line]> = lines.chunks(LINES_PER_PAGE).collect();
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first_page + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Courier"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Courier-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("Labhook"));
    for (i, (page_lines, id)) in pages.iter().zip(&page_ids).enumerate() {
        let contents = Ref::new(id.get() + 1);
        let mut page = pdf.page(*id);
        page.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
            .contents(contents);
        page.resources()
            .fonts()
            .pair(Name(b"R"), regular)
            .pair(Name(b"B"), bold);
        page.finish();

        let mut content = Content::new();
        content.begin_text();
        content.set_leading(LEADING);
        content.next_line(MARGIN, PAGE.1 - MARGIN);
        for line in page_lines.iter() {
            let font = if line.bold { Name(b"B") } else { Name(b"R") };
            content.set_font(font, SIZE);
            content.show(Str(&win_ansi(&line.text)));
            content.next_line_using_leading();
        }
        content.end_text();
        content.begin_text();
        content.set_font(Name(b"R"), SIZE);
        content.next_line(MARGIN, MARGIN / 2.0);
        content.show(Str(&win_ansi(&format!(
            "{title} · page {} of {}",
            i + 1,
            pages.len()
        ))));
        content.end_text();
        pdf.stream(contents, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_at_spaces_and_within_words_when_it_must() {
        let lines = wrap(&"word ".repeat(50), 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), "word".repeat(50));
        let long = "x".repeat(45);
        assert_eq!(
            wrap(&long, 20),
            vec!["x".repeat(20), "x".repeat(16), "x".repeat(9)]
        );
    }

    #[test]
    fn text_is_set_in_windows_1252() {
        assert_eq!(win_ansi("Größe – 5 €"), b"Gr\xf6\xdfe \x96 5 \x80");
        assert_eq!(win_ansi("温度"), b"??");
    }
}
