//! A throw-away PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries
//! (`scripts/tools.sh` installs them), a cluster made with `initdb` in a scratch directory,
//! listening on a free loopback port, stopped and removed when dropped. No container, no
//! system service: the package's own cluster is never touched.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
//! package's `postgres` account and its commands run through `runuser`.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Output},
};

use super::Scratch;

/// Why a scratch PostgreSQL could not be started, in words for the person running the tests.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "PostgreSQL's server programs are not installed (looked for /usr/lib/postgresql/*/bin/initdb); \
         run scripts/tools.sh, which installs Debian's postgresql package"
    )]
    NotInstalled,
    #[error("the tests run as root and there is no `postgres` account to run PostgreSQL as")]
    NoAccount,
    #[error("{what} failed: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {output}")]
    Command {
        what: &'static str,
        status: std::process::ExitStatus,
        output: String,
    },
}

/// A running PostgreSQL server of our own; stopped (at once) and deleted when dropped.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<String>,
    _scratch: Scratch,
}

impl Postgres {
    /// Makes a cluster in a scratch directory and starts it on a free loopback port.
    pub fn start() -> Result<Self, StartError> {
        let bin = server_programs().ok_or(StartError::NotInstalled)?;
        let scratch = Scratch::new("labhook-postgres").map_err(|source| StartError::Io {
            what: "making a scratch directory",
            source,
        })?;
        let run_as = if is_root() {
            let uid = account_uid("postgres").ok_or(StartError::NoAccount)?;
            std::os::unix::fs::chown(scratch.path(), Some(uid), None).map_err(|source| {
                StartError::Io {
                    what: "giving the scratch directory to postgres",
                    source,
                }
            })?;
            Some("postgres".to_owned())
        } else {
            None
        };
        let data = scratch.path().join("data");
        let port = free_port().map_err(|source| StartError::Io {
            what: "finding a free port",
            source,
        })?;
        let pg = Self {
            bin,
            data,
            port,
            run_as,
            _scratch: scratch,
        };
        let data = pg.data.to_string_lossy().into_owned();
        // Trust on loopback only (the server listens nowhere else); no fsync while the cluster
        // is made — it is thrown away with the test.
        pg.run(
            "initdb",
            &[
                "initdb", "-D", &data, "-U", "labhook", "-A", "trust", "-E", "UTF8",
            ],
            &["--no-locale", "--no-sync"],
        )?;
        // Room for a test per core on a large CI machine, each instance holding about a dozen
        // connections (reads, the writer, the serving lock).
        // `LABHOOK_TEST_PG_OPTIONS` adds server settings (e.g. `-c log_lock_waits=on`) and
        // `LABHOOK_TEST_PG_LOG` keeps the server's log at that path, for a look afterwards.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=600 {}",
            pg.port,
            pg._scratch.path().display(),
            std::env::var("LABHOOK_TEST_PG_OPTIONS").unwrap_or_default(),
        );
        let log = std::env::var("LABHOOK_TEST_PG_LOG").map_or_else(
            |_| pg._scratch.path().join("postgres.log"),
            std::path::PathBuf::from,
        );
        let log = log.to_string_lossy().into_owned();
        pg.run(
            "pg_ctl start",
            &["pg_ctl", "-D", &data, "-l", &log, "-o", &options],
            &["-w", "start"],
        )?;
        Ok(pg)
    }

    /// One cluster for the whole test process, started on first use; a database per caller
    /// (see [`Postgres::create_database`]). A static is never dropped, so a watchdog (a shell
    /// waiting for this process to end) stops the cluster and removes its directory.
    pub fn for_this_process() -> &'static Postgres {
        static CLUSTER: std::sync::OnceLock<Postgres> = std::sync::OnceLock::new();
        CLUSTER.get_or_init(|| {
            let pg = Postgres::start().unwrap_or_else(|e| panic!("a scratch PostgreSQL: {e}"));
            pg.watch(std::process::id());
            pg
        })
    }

    /// Stops the cluster and removes its directory once process `pid` has ended.
    fn watch(&self, pid: u32) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = match &self.run_as {
            Some(account) => format!("runuser -u {account} -- {}", pg_ctl.display()),
            None => pg_ctl.display().to_string(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} -D '{}' -m immediate stop >/dev/null 2>&1; rm -rf '{}'",
            self.data.display(),
            self._scratch.path().display()
        );
        // A process group of its own: whoever stops the tests' group (a job runner, `timeout`)
        // must not take the watchdog with them — it is what cleans up after them.
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = watchdog {
            tracing::warn!(error = ?e, "no watchdog for the scratch PostgreSQL");
        }
    }

    /// A connection URL for `database` (see [`Postgres::create_database`]).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://labhook@127.0.0.1:{}/{database}", self.port)
    }

    /// Makes an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, StartError> {
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["createdb", "-h", "127.0.0.1", "-p", &port, "-U", "labhook"],
            &[name],
        )?;
        Ok(self.url(name))
    }

    fn run(
        &self,
        what: &'static str,
        program_and_args: &[&str],
        more: &[&str],
    ) -> Result<(), StartError> {
        let (program, args) = program_and_args.split_first().expect("BUG: a program");
        let program = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(account) => {
                let mut c = Command::new("runuser");
                c.args(["-u", account, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        command
            .args(args)
            .args(more)
            .current_dir(self._scratch.path());
        let Output {
            status,
            stdout,
            stderr,
        } = command
            .output()
            .map_err(|source| StartError::Io { what, source })?;
        if status.success() {
            Ok(())
        } else {
            let mut output = String::from_utf8_lossy(&stderr).into_owned();
            output.push_str(&String::from_utf8_lossy(&stdout));
            if let Ok(log) = std::fs::read_to_string(self._scratch.path().join("postgres.log")) {
                output.push_str("\nserver log:\n");
                output.push_str(&log);
            }
            Err(StartError::Command {
                what,
                status,
                output,
            })
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        // Immediate: the cluster is thrown away, nothing needs to be flushed.
        let _ = self.run(
            "pg_ctl stop",
            &["pg_ctl", "-D", &data],
            &["-m", "immediate", "stop"],
        );
    }
}

/// The newest installed PostgreSQL's server programs (Debian keeps them off `PATH`).
fn server_programs() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // `Uid:` lists the real, effective, saved and file-system ids; the effective one counts.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2)?.parse::<u32>().ok()
        })
        .is_some_and(|uid| uid == 0)
}

/// An account's user id, from `/etc/passwd`.
fn account_uid(name: &str) -> Option<u32> {
    uid_in_passwd(&std::fs::read_to_string("/etc/passwd").ok()?, name)
}

fn uid_in_passwd(passwd: &str, name: &str) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_uid_is_read_from_passwd() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n";
        assert_eq!(uid_in_passwd(passwd, "postgres"), Some(101));
        assert_eq!(uid_in_passwd(passwd, "root"), Some(0));
        assert_eq!(uid_in_passwd(passwd, "nobody"), None);
    }
}
