//! SoftHSM2 tokens for tests: a token directory and configuration of the test's own, the
//! user PIN in a file, and a child process to use them from.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, when the module is initialized, and PKCS#11 allows
//! one initialization per process. So a test that loads the module in-process runs its body
//! in a child process started with the token's configuration ([`SoftHsm::run_in_child`]);
//! tests that drive `signet` commands give each command [`SoftHsm::env`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token (in [`SoftHsm::pin_file`]).
pub const PIN: &str = "87654321";
const SO_PIN: &str = "12345678";
/// Set in a child started by [`SoftHsm::run_in_child`]: the directory of its token.
const CHILD_DIR: &str = "SIGNET_TEST_SOFTHSM_DIR";

/// A SoftHSM2 token in a directory of its own.
pub struct SoftHsm {
    dir: PathBuf,
    /// Removes the directory when dropped; `None` in a child, which borrows its parent's.
    _temp: Option<tempfile::TempDir>,
    label: String,
}

impl SoftHsm {
    /// A new, initialized token labelled `label` (panics, naming the package, if SoftHSM2
    /// or OpenSC is missing: `scripts/test.sh` installs both).
    pub fn new(label: &str) -> SoftHsm {
        assert!(
            Path::new(MODULE).exists() && which("softhsm2-util") && which("pkcs11-tool"),
            "SoftHSM2 and OpenSC are needed: apt-get install softhsm2 opensc (scripts/test.sh does)"
        );
        let temp = tempfile::tempdir().expect("a temporary directory");
        let dir = temp.path().to_owned();
        std::fs::create_dir(dir.join("tokens")).expect("the token directory");
        std::fs::write(
            dir.join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        std::fs::write(dir.join("pin"), format!("{PIN}\n")).expect("the PIN file");
        let hsm = SoftHsm {
            dir,
            _temp: Some(temp),
            label: label.to_owned(),
        };
        let out = hsm
            .command("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
            ])
            .args(["--pin", PIN])
            .output()
            .expect("running softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        hsm
    }

    /// In a child started by [`run_in_child`](SoftHsm::run_in_child): its parent's token.
    pub fn of_this_child(label: &str) -> Option<SoftHsm> {
        let dir = PathBuf::from(std::env::var_os(CHILD_DIR)?);
        Some(SoftHsm {
            dir,
            _temp: None,
            label: label.to_owned(),
        })
    }

    /// Runs `test` (this test's name, as `cargo test` filters it) again in a child process
    /// with this token's configuration, and fails if the child fails. The test calls this
    /// when [`of_this_child`](SoftHsm::of_this_child) is `None`, and does its work when it
    /// is `Some`.
    pub fn run_in_child(&self, test: &str) {
        let exe = std::env::current_exe().expect("the test binary");
        let out = Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .envs(self.env())
            .env(CHILD_DIR, &self.dir)
            .output()
            .expect("running the test in a child");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("1 passed"),
            "the child failed:\n{text}"
        );
    }

    /// The environment a process needs to see this token.
    pub fn env(&self) -> Vec<(String, PathBuf)> {
        vec![("SOFTHSM2_CONF".into(), self.dir.join("softhsm2.conf"))]
    }

    /// A command with this token's environment.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env());
        c
    }

    /// The RFC 7512 URI of the key labelled `object` on this token, with the module and the
    /// PIN file.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={MODULE}&pin-source=file:{}",
            self.label,
            self.pin_file().display()
        )
    }

    pub fn pin_file(&self) -> PathBuf {
        self.dir.join("pin")
    }

    /// The directory SoftHSM keeps the token in (move it away to take the token away).
    pub fn tokens_dir(&self) -> PathBuf {
        self.dir.join("tokens")
    }

    /// `pkcs11-tool` (OpenSC) on this token, logged in: a second client of the token.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        self.command("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", &self.label])
            .args(["--login", "--pin", PIN])
            .args(args)
            .output()
            .expect("running pkcs11-tool")
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
