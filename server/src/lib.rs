//! The backend of Labhook: database, domain rules and services, the dispatcher and the HTTP
//! APIs. It knows nothing of the user interface; the `app` crate's server functions and the
//! axum routers in [`http`] are two doors into the same services.

pub mod admin;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod background;
pub mod clock;
pub mod config;
pub mod db;
pub mod deliveries;
pub mod demo;
pub mod demo_lims;
pub mod devices;
pub mod dispatcher;
pub mod domain;
pub mod error;
#[cfg(feature = "testing")]
pub mod harness;
pub mod health;
pub mod housekeeping;
pub mod http;
pub mod instances;
pub mod notifications;
pub mod orgs;
pub mod paging;
pub mod people;
pub mod rate;
pub mod records;
pub mod retention;
pub mod settings;
pub mod simulator;
pub mod sources;
pub mod state;
pub mod subscriptions;
pub mod telemetry;

pub use error::{Error, FieldError, Result};
pub use state::AppState;
