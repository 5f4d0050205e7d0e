//! The `labhook` binary: serves the app, or administers users from the command line.

#[cfg(feature = "ssr")]
mod cli;

/// See the note on `mimalloc` in Cargo.toml: a bounded, flat memory footprint under load.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::main().await
}

// The browser build compiles only the library; this keeps `cargo build` without features happy.
#[cfg(not(feature = "ssr"))]
fn main() {}
