//! A real OPC UA server for the sources' tests: `server/tests/opcua/instrument.py`, FreeOpcUa's
//! `asyncua` (Python), installed by `scripts/tools.sh` into target/opcua-venv. Shared with the
//! binary's tests (tests/it/main.rs).

use std::{path::PathBuf, process::Stdio};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

pub struct Instrument {
    pub port: u16,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// The workspace: these helpers serve the server's tests and the binary's (`#[path]`).
fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("server").is_dir() {
        here
    } else {
        here.join("..")
    }
}

impl Instrument {
    /// Starts it on a free loopback port.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    /// Starts it on `port` (again, after [`Instrument::stop`]).
    pub async fn start_on(port: u16) -> Self {
        let python = root().join("target/opcua-venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: scripts/tools.sh installs the test instrument's OPC UA server",
            python.display()
        );
        let mut child = Command::new(python)
            .arg(root().join("server/tests/opcua/instrument.py"))
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the test instrument starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut instrument = Self {
            port,
            child,
            stdin,
            stdout,
        };
        instrument.expect("ready").await;
        instrument
    }

    pub fn endpoint(&self) -> String {
        format!("opc.tcp://127.0.0.1:{}/labhook/", self.port)
    }

    async fn expect(&mut self, line: &str) {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(30), self.stdout.next_line())
                .await
                .expect("the test instrument answers within 30 s")
                .unwrap();
        assert_eq!(read.as_deref(), Some(line), "the test instrument said");
    }

    /// Changes a variable on the instrument (Incubator.`name`).
    pub async fn set(&mut self, name: &str, value: &str) {
        self.stdin
            .write_all(format!("set {name} {value}\n").as_bytes())
            .await
            .unwrap();
        self.expect("ok").await;
    }

    /// Stops it at once, as a power cut would.
    pub async fn stop(mut self) -> u16 {
        self.child.kill().await.unwrap();
        self.port
    }
}
