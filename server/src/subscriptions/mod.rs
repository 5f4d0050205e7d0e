//! Webhook subscriptions: a target URL, custom headers, and the channels and trigger events to
//! deliver. Lab users manage their own; org admins see all of their organisation's and may
//! switch off or delete any. Every change is audited in its own transaction.

mod access;
pub mod auto_disable;
mod changes;
mod channel_removal;
pub mod cleanup;
mod model;
mod overflow;
mod queries;
mod redeliver;
pub mod replay;
pub mod rules;
mod sealing;
mod switch;
mod test_event;

pub use access::{lose_access_in, set_device_access};
pub use changes::{create, delete, rotate_secret, update, ROTATION_OVERLAP_MS};
pub use channel_removal::{channel_uses, remove_channel, ChannelUser, ChannelUses};
pub use model::{Created, Subscription, TriggerRow};
pub use overflow::record_overflow;
pub use queries::{catalogue, event_label, get, get_for_edit, list, list_page, PER_PAGE};
pub use redeliver::redeliver;
pub use sealing::{key_file, key_file_of, read_key_file, seal_open_secrets, secrets_key};
pub use switch::{deactivate, deactivate_unregistered_targets, set_active};
pub use test_event::send_test_event;
