//! A real PostgreSQL server for a test: Debian's `postgresql` package (`initdb`, `pg_ctl`,
//! `psql` under `/usr/lib/postgresql/<version>/bin`), a fresh cluster in a temporary
//! directory, listening on loopback only (and a socket in that directory), trust
//! authentication for the user `signet`. PostgreSQL refuses to run as root, so when the test
//! runs as root the cluster belongs to, and runs as, the `postgres` system user (made by the
//! package). Stopped (`pg_ctl stop -m immediate`) and deleted when dropped.
//!
//! A missing PostgreSQL fails the test: `scripts/test.sh` installs the package.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One running cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run PostgreSQL's programs as this user (`Some("postgres")` when the test is root).
    run_as: Option<String>,
}

/// The directory of the newest installed PostgreSQL's programs.
pub fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(v, _)| *v);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             scripts/test.sh installs it (apt-get install postgresql)"
        ),
    }
}

impl PgCluster {
    /// `initdb` and `pg_ctl start` on a free loopback port; waits until it accepts
    /// connections.
    pub fn start() -> PgCluster {
        let cluster = PgCluster::empty();
        let data = cluster.data();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "signet",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        cluster.launch()
    }

    /// A streaming replica of `primary` (`pg_basebackup -R`), started and following it. With
    /// [`PgCluster::make_synchronous`] on the primary, a commit there returns only once this
    /// replica has it.
    pub fn replica_of(primary: &PgCluster) -> PgCluster {
        let cluster = PgCluster::empty();
        let data = cluster.data();
        let out = cluster.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "signet",
                "-D",
                &data.to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "pg_basebackup: {}", text(&out));
        cluster.launch()
    }

    /// Makes every commit wait for a standby (`synchronous_standby_names = '*'`), and waits
    /// until one is attached as synchronous.
    pub fn make_synchronous(&self) {
        // Two calls: ALTER SYSTEM refuses to run inside the one transaction psql makes of
        // several statements.
        self.psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
        );
        self.psql("postgres", "SELECT pg_reload_conf()");
        for _ in 0..600 {
            let state = self.query(
                "postgres",
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
            );
            if state.trim() != "0" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("no synchronous standby attached within 60 s");
    }

    /// Stops the server the way a crash does (`pg_ctl stop -m immediate`: no checkpoint,
    /// connections cut).
    pub fn crash(&self) {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }

    /// Promotes a replica to primary and waits until it accepts writes.
    pub fn promote(&self) {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-w",
                "-t",
                "60",
                "promote",
            ],
        );
        assert!(out.status.success(), "pg_ctl promote: {}", text(&out));
    }

    /// A temporary directory for a cluster, owned by the user who will run it.
    fn empty() -> PgCluster {
        let bin = postgres_bin();
        let dir = tempfile::Builder::new()
            .prefix("signet-pg-")
            .tempdir()
            .expect("a temporary directory for PostgreSQL");
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            // The cluster's directory must belong to the user who runs it.
            let out = Command::new("chown")
                .args(["-R", &format!("{user}:"), &dir.path().to_string_lossy()])
                .output()
                .expect("running chown");
            assert!(out.status.success(), "chown: {}", text(&out));
        }
        PgCluster {
            dir,
            bin,
            port: 0,
            run_as,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `pg_ctl start` on a free loopback port; waits until it accepts connections.
    fn launch(mut self) -> PgCluster {
        self.port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self
    }

    /// The loopback port it listens on.
    /// One cluster for the tests of a binary that run at the same time: started by the
    /// first to ask, stopped when the last handle is dropped (a static would never be
    /// dropped, leaving the server running after the tests).
    pub fn shared() -> std::sync::Arc<PgCluster> {
        use std::sync::{Arc, Mutex, PoisonError, Weak};
        static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(PgCluster::start());
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    /// A new, empty database with a name no other test of this process uses.
    pub fn fresh_database(&self) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.create_database(&name);
        name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `postgres://` URL for `database` as the user `signet`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://signet@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database.
    pub fn create_database(&self, name: &str) {
        let out = self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        assert!(
            out.status.success(),
            "CREATE DATABASE {name}: {}",
            text(&out)
        );
    }

    /// Runs `sql` with `psql` against `database` (stopping at the first error); the output.
    pub fn psql(&self, database: &str, sql: &str) -> Output {
        Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "signet",
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()
            .expect("running psql")
    }

    /// Like [`PgCluster::psql`], panicking unless it succeeds; its standard output.
    pub fn query(&self, database: &str, sql: &str) -> String {
        let out = self.psql(database, sql);
        assert!(out.status.success(), "psql {sql:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes `contents` to `name` in the cluster's directory, owned by the cluster's user with
    /// permission bits `mode` (a server key must be 0600 and the server's own); its path.
    pub fn install_file(&self, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("writing a file for PostgreSQL");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("setting a file's mode");
        if let Some(user) = &self.run_as {
            let out = Command::new("chown")
                .args([&format!("{user}:"), &*path.to_string_lossy()])
                .output()
                .expect("running chown");
            assert!(out.status.success(), "chown: {}", text(&out));
        }
        path
    }

    /// Puts `line` first in `pg_hba.conf` (the first matching line decides how a connection
    /// authenticates); takes effect at the next [`PgCluster::restart`].
    pub fn prepend_hba(&self, line: &str) {
        let path = self.dir.path().join("data").join("pg_hba.conf");
        let old = std::fs::read_to_string(&path).expect("reading pg_hba.conf");
        // Rewriting the file in place keeps its owner.
        std::fs::write(&path, format!("{line}\n{old}")).expect("writing pg_hba.conf");
    }

    /// Restarts the server (same port and options) and waits until it accepts connections:
    /// settings changed with `ALTER SYSTEM` or in `pg_hba.conf` then certainly apply, which a
    /// reload signal does not promise by the time it returns.
    pub fn restart(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("postgres.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl restart: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Runs one of PostgreSQL's programs (as the cluster's user).
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.run(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"],
        );
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
