//! Tamper-evident records (docs/records.md): every audit entry and every delivery attempt is a
//! link of its organisation's chain (SHA-256 of the row's canonical content and of the link
//! before it); the installation signs the chains' heads (Ed25519) at intervals and on demand,
//! and signs each removal on purpose (retention, a deleted subscription's log) when it
//! happens, so that `labhook verify-records` can tell pruning from tampering.
//!
//! This module owns the canonical form, the chains' heads and the signatures; the modules that
//! own the rows (audit, deliveries) ask it for links inside their own transactions.

mod chain;
mod checkpoint;
pub mod export;
mod key;
pub mod pdf;
mod removal;
mod rows;
pub mod verify;

pub(crate) use chain::reserve;
pub use chain::{audit_content, link, AttemptContent, Link, GENESIS};
pub use checkpoint::{checkpoint, checkpoint_all, sign_heads, Checkpointed, Cursor};
pub use key::{PublicKey, RecordsKey};
pub(crate) use removal::remove_attempts;

/// An organisation's chain of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chain {
    /// The audit trail's entries.
    Audit,
    /// The delivery log's attempts: request as sent, answer as received, times.
    Deliveries,
}

impl Chain {
    pub const ALL: [Chain; 2] = [Chain::Audit, Chain::Deliveries];

    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Audit => "audit",
            Chain::Deliveries => "deliveries",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The parts a link's content may end with, each only when the row has it (an audit entry's
    /// reason): in an export, a name that is absent from a line is not part of its content.
    pub fn optional_fields(self) -> &'static [&'static str] {
        match self {
            Chain::Audit => &["reason"],
            Chain::Deliveries => &[],
        }
    }

    /// The names of a link's content, in the order the content lists them (what an export
    /// calls each part), before its [`Chain::optional_fields`].
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Chain::Audit => &[
                "actor_id", "actor", "at", "kind", "action", "subject", "before", "after",
            ],
            Chain::Deliveries => &[
                "delivery_id",
                "number",
                "started_at",
                "duration_ms",
                "request_headers",
                "request_body_sha256",
                "response_status",
                "response_headers",
                "response_body",
                "error_kind",
                "error_message",
            ],
        }
    }

    /// The column that says when a link's row happened.
    pub(crate) fn time_column(self) -> &'static str {
        match self {
            Chain::Audit => "at",
            Chain::Deliveries => "started_at",
        }
    }

    /// The table whose rows are the chain's links.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Chain::Audit => "audit_log",
            Chain::Deliveries => "delivery_attempts",
        }
    }
}
