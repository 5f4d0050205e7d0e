//! Deliveries — one per event and matching subscription — and their attempts: the queue the
//! dispatcher works from ([`queue`]), what came of each attempt ([`outcomes`]), the log
//! people read ([`log`], Laboperator's `webhook_logs`) and what is deleted for good ([`removal`]). This module owns the `deliveries` and
//! `delivery_attempts` tables.

pub mod health;
pub mod log;
pub mod outcomes;
#[cfg(test)]
mod plans;
pub mod queue;
pub mod removal;

pub use health::{health_of, per_hour, Health, Hour};
pub use log::{
    detail, last_of, list, AttemptRow, DeliveryDetail, DeliveryRow, LastDelivery, LogFilter,
};
