//! Integration tests of the backend over real HTTP: each test starts the backend's router on
//! a random port with its own SQLite file (and the demo data), and talks to it like a device
//! would. No UI is compiled for these.

mod debounce;
mod dispatch;
mod figures;
mod helpers;
mod ingest;
mod instrument;
mod layers;
mod postgres;
mod quiet;
mod reasons;
mod receiver;
mod records;
mod replies;
mod sources;
mod targets;
mod upgrade;
mod writer;
