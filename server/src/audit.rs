//! The audit trail: who changed what, when, with the state before and after. Written in the
//! same transaction as the change it describes; never edited or deleted (the database refuses).

use std::collections::BTreeMap;

use crate::db::{Conn, Pool};
use serde_json::Value as Json;

use crate::{
    auth::CurrentUser,
    clock::now_ms,
    domain::{mask::mask_secrets, Reason},
    paging::{Page, PageRequest},
    records::{self, Chain},
    Error, Result,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Settings,
    RegisteredUrl,
    Device,
    Subscription,
    /// People: added, role changed, deactivated, password reset.
    User,
    /// Sign-ins, failed sign-ins and passwords set with a link.
    SignIn,
}

impl AuditKind {
    pub const ALL: [AuditKind; 6] = [
        AuditKind::Settings,
        AuditKind::RegisteredUrl,
        AuditKind::Device,
        AuditKind::Subscription,
        AuditKind::User,
        AuditKind::SignIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Settings => "settings",
            AuditKind::RegisteredUrl => "registered_url",
            AuditKind::Device => "device",
            AuditKind::Subscription => "subscription",
            AuditKind::User => "user",
            AuditKind::SignIn => "sign_in",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AuditKind::Settings => "Organisation settings",
            AuditKind::RegisteredUrl => "Registered URLs",
            AuditKind::Device => "Devices",
            AuditKind::Subscription => "Subscriptions",
            AuditKind::User => "People",
            AuditKind::SignIn => "Sign-ins",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// One change, as the code that makes it describes it.
pub struct Entry {
    pub kind: AuditKind,
    /// What happened, as a verb: "enabled", "registered", "updated", "deleted", …
    pub action: &'static str,
    /// What it happened to, for people: a URL, "Subscription #3 (QC LIMS)", a device name.
    pub subject: String,
    pub before: Option<Json>,
    pub after: Option<Json>,
}

/// Who made a change.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A person, through a page or an API.
    User(&'a CurrentUser),
    /// Labhook itself (the dispatcher switching off a subscription whose receiver answered
    /// 410 Gone).
    System,
    /// An operator at the server's command line (`labhook create-device`, `reset-password`),
    /// with the `--reason` they gave.
    CommandLine(Option<&'a Reason>),
    /// A person known by their account but not signed in: a sign-in, a failed one, a password
    /// set with a link.
    Account(i64, &'a str),
}

impl<'a> From<&'a CurrentUser> for Actor<'a> {
    fn from(user: &'a CurrentUser) -> Self {
        Actor::User(user)
    }
}

impl Actor<'_> {
    /// The reason the actor gave for the change, if any.
    fn reason(&self) -> Option<&Reason> {
        match self {
            Actor::User(user) => user.reason.as_ref(),
            Actor::CommandLine(reason) => *reason,
            Actor::System | Actor::Account(..) => None,
        }
    }

    /// Whether the actor is a person who can be asked why: Labhook's own changes say why in
    /// their entry, and a sign-in is not a change.
    fn answers_for_changes(&self) -> bool {
        matches!(self, Actor::User(_) | Actor::CommandLine(_))
    }
}

/// A test event sent: recorded, but it changes nothing, so it needs no reason.
pub const TEST_EVENT_SENT: &str = "test event sent";

/// Actions that are recorded but change nothing, so need no reason.
const NOT_CHANGES: [&str; 1] = [TEST_EVENT_SENT];

/// Whether the organisation requires a reason for every change (Server Administration).
pub async fn reasons_required(conn: &mut Conn, organisation_id: i64) -> Result<bool> {
    Ok(crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT reasons_required FROM organisations WHERE id = $1",
    )
    .bind(organisation_id)
    .fetch_optional(db)
    .await)?
    .unwrap_or(false))
}

/// Appends an entry to an organisation's trail, inside the transaction of the change. Secret
/// header values are masked.
///
/// Every change passes here, whichever door it came through, so this is where a reason is
/// required: when the organisation requires reasons, a person's change without one is refused
/// (`reason`: the doors name it as their caller gave it) and its transaction rolls back. The
/// setting is read in the change's own transaction, so it holds from the moment it is saved.
pub async fn record(
    conn: &mut Conn,
    organisation_id: i64,
    actor: Actor<'_>,
    entry: Entry,
) -> Result<()> {
    let reason = actor.reason().map(Reason::as_str);
    if reason.is_none()
        && actor.answers_for_changes()
        && entry.kind != AuditKind::SignIn
        && !NOT_CHANGES.contains(&entry.action)
        && reasons_required(conn, organisation_id).await?
    {
        return Err(Error::invalid("reason", Reason::MISSING));
    }
    let (actor_id, actor_name) = match actor {
        Actor::User(user) => (Some(user.id), user.name.as_str()),
        Actor::System => (None, "Labhook (dispatcher)"),
        Actor::CommandLine(_) => (None, "Command line"),
        Actor::Account(id, name) => (Some(id), name),
    };
    let at = now_ms();
    let before = entry.before.map(|j| mask_secrets(j).to_string());
    let after = entry.after.map(|j| mask_secrets(j).to_string());
    let content = records::audit_content(
        actor_id,
        actor_name,
        at,
        entry.kind.as_str(),
        entry.action,
        &entry.subject,
        before.as_deref(),
        after.as_deref(),
        reason,
    );
    let mut links = records::reserve(
        conn,
        Chain::Audit,
        &BTreeMap::from([(organisation_id, vec![content])]),
    )
    .await?;
    let link = links
        .remove(&organisation_id)
        .and_then(|mut l| l.pop())
        .expect("BUG: a link for the entry");
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO audit_log (organisation_id, actor_id, actor_name, at, kind, action, subject, before, after,
                                seq, prev_hash, hash, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(organisation_id)
    .bind(actor_id)
    .bind(actor_name)
    .bind(at)
    .bind(entry.kind.as_str())
    .bind(entry.action)
    .bind(entry.subject)
    .bind(before)
    .bind(after)
    .bind(link.seq)
    .bind(link.prev_hash)
    .bind(link.hash)
    .bind(reason)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(())
}

/// A user's change in their own organisation: the common case.
pub async fn record_by(conn: &mut Conn, user: &CurrentUser, entry: Entry) -> Result<()> {
    record(conn, user.organisation_id, Actor::User(user), entry).await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor_name: String,
    pub kind: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
}

pub const PER_PAGE: u32 = 25;

/// The organisation's audit trail, newest first, optionally of one kind.
///
/// The whole trail is paged by link: its entries are numbered 1, 2, 3, … without gaps (they
/// are never removed), so page `k` is a range of `seq` read through the chain's index, and the
/// total is the chain's head — as quick for the last page of a million entries as for the
/// first. Entries from before the chains began come after the first link, by id. One kind is
/// counted and paged through the `(organisation, kind, id)` index.
pub async fn list(
    pool: &Pool,
    admin: &CurrentUser,
    kind: Option<AuditKind>,
    page: u32,
) -> Result<Page<AuditRecord>> {
    admin.require_org_admin()?;
    let page = PageRequest::new(page, PER_PAGE);
    let org = admin.organisation_id;
    let Some(kind) = kind else {
        return list_by_link(pool, org, page).await;
    };
    let kind = kind.as_str();
    let total: i64 = crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE organisation_id = $1 AND kind = $2",
    )
    .bind(org)
    .bind(kind)
    .fetch_one(db)
    .await)?;
    let records = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT id, at, actor_name, kind, action, subject, before, after, reason FROM audit_log
         WHERE organisation_id = $1 AND kind = $2
         ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(org)
    .bind(kind)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await)?;
    Ok(page.of(records, total))
}

async fn list_by_link(pool: &Pool, org: i64, page: PageRequest) -> Result<Page<AuditRecord>> {
    let head: Option<i64> = crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT seq FROM record_chains WHERE organisation_id = $1 AND chain = $2",
    )
    .bind(org)
    .bind(Chain::Audit.as_str())
    .fetch_optional(db)
    .await)?;
    let head = head.unwrap_or(0);
    let unchained: i64 = crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE organisation_id = $1 AND seq IS NULL",
    )
    .bind(org)
    .fetch_one(db)
    .await)?;
    // Links (newest first) from `head - offset` down; the rest of the page from the entries
    // without links.
    let top = head - page.offset();
    let mut records: Vec<AuditRecord> = if top >= 1 {
        crate::db::with_db!(pool, db => sqlx::query_as(
            "SELECT id, at, actor_name, kind, action, subject, before, after, reason FROM audit_log
             WHERE organisation_id = $1 AND seq <= $2 AND seq > $3
             ORDER BY seq DESC",
        )
        .bind(org)
        .bind(top)
        .bind(top - page.limit())
        .fetch_all(db)
        .await)?
    } else {
        Vec::new()
    };
    let missing = page.limit() - records.len() as i64;
    if missing > 0 && unchained > 0 {
        let skip = (page.offset() - head).max(0);
        let older: Vec<AuditRecord> = crate::db::with_db!(pool, db => sqlx::query_as(
            "SELECT id, at, actor_name, kind, action, subject, before, after, reason FROM audit_log
             WHERE organisation_id = $1 AND seq IS NULL
             ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(org)
        .bind(missing)
        .bind(skip)
        .fetch_all(db)
        .await)?;
        records.extend(older);
    }
    Ok(page.of(records, head + unchained))
}
