//! The `labhook` binary: serves the app, or administers users from the command line.

/// mimalloc, giving freed memory back at once.
#[cfg(all(feature = "ssr", target_os = "linux"))]
mod allocator;
#[cfg(all(feature = "ssr", not(target_os = "linux")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "ssr")]
mod cli;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::main().await
}

// The browser build compiles only the library; this keeps `cargo build` without features happy.
#[cfg(not(feature = "ssr"))]
fn main() {}
