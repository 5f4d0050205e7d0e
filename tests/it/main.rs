//! Integration tests of the whole web application: each test starts the real server (pages,
//! server functions, APIs) on a random port with its own SQLite file, and talks HTTP to it.
#![cfg(feature = "ssr")]

mod admin;
mod api;
mod auth;
mod channels;
mod cli;
mod corpus;
mod crash;
mod devices;
mod fault;
mod floods;
mod helpers;
// The server's test instrument; these tests use part of it.
mod instances;
#[allow(dead_code)]
#[path = "../../server/tests/it/instrument.rs"]
mod instrument;
mod log_pages;
mod matrix;
mod operations;
mod people;
mod process;
mod readback;
mod records;
mod sources;
mod subscriptions;
