//! A private PostgreSQL server for tests: one cluster per test process, in a
//! temporary directory, on a free loopback port, stopped when the process
//! ends; each test takes a database of its own. Shared by the library's
//! tests and the end-to-end suite (which includes this file by path).
//!
//! Needs Debian's `postgresql` package (`.ci/run` installs it). The server
//! refuses to run as root, so as root it runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running cluster.
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    opts: String,
}

fn bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is not installed ({}: {e}); run .ci/run or apt-get install postgresql", root.display())
        })
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version with initdb under /usr/lib/postgresql")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program args…`, as the `postgres` user when this process is root.
fn as_server_user(program: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    /// Start a new cluster (most tests want [`shared`] instead).
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("llmnode-pg-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["postgres:", dir.to_str().unwrap()]);
                    c
                },
                "chown the test cluster's directory",
            );
        }
        let data = dir.join("data");
        run(
            as_server_user(
                &bin.join("initdb"),
                &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "llmnode", "--no-sync"],
            ),
            "initdb",
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            dir.to_str().unwrap()
        );
        let server = PgServer { port, dir, bin, opts };
        server.resume();
        server
    }

    /// Start the cluster (again, after [`PgServer::stop`]: same port, same data).
    pub fn resume(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        run(
            as_server_user(
                &self.bin.join("pg_ctl"),
                &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &self.opts, "-w", "start"],
            ),
            "pg_ctl start",
        );
    }

    /// A URL for database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://llmnode@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let psql = self.bin.join("psql");
        let mut c = Command::new(if psql.exists() { psql } else { PathBuf::from("psql") });
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "llmnode", "-d", "postgres", "-qc"])
            .arg(format!("CREATE DATABASE {name}"));
        run(c, "CREATE DATABASE");
        self.url(&name)
    }

    /// Stop the cluster now (as a crash or an outage would look to clients).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        let _ = as_server_user(&self.bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test process's cluster, started on first use and stopped at exit.
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = PgServer::start();
        // Statics are not dropped: stop the cluster when the process exits.
        STOP_AT_EXIT.get_or_init(|| (server.dir.clone(), server.bin.clone()));
        // SAFETY: registers a plain `extern "C"` function with no captured state.
        unsafe { libc::atexit(stop_at_exit) };
        server
    })
}

static STOP_AT_EXIT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();

extern "C" fn stop_at_exit() {
    if let Some((dir, bin)) = STOP_AT_EXIT.get() {
        let data = dir.join("data");
        let _ =
            as_server_user(&bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(dir);
    }
}
