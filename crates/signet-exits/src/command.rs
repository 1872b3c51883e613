//! The `command` exit module: runs a configured program for each event, with the event as
//! JSON on stdin ([`crate::common::event_record_with_pem`]).
//!
//! No shell is involved: `program` is executed directly with `args`. The environment is
//! cleared except `PATH`, the working directory is the data directory, stdout is discarded.
//! Exit status 0 acknowledges the event; any other status, a signal, or running past
//! `timeout` (the child is then killed) is a failed delivery whose error carries the end of
//! the program's stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use signet_core::{BoxFuture, CaInfo, EventMask, Exit, ExitCtx, ModuleError};

use crate::ConfigError;
use crate::common::{event_record_with_pem, module_error, parse_mask, timeout};
use signet_policy::DurationSetting;

/// How much of the program's stderr is kept for the error message.
const STDERR_LIMIT: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandConfig {
    program: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    timeout: Option<DurationSetting>,
    #[serde(default)]
    events: Option<Vec<String>>,
}

/// `command`: see the module documentation.
pub struct CommandExit {
    name: String,
    mask: EventMask,
    run: Arc<Run>,
}

/// What to run; shared with the blocking task of each notification.
struct Run {
    program: PathBuf,
    args: Vec<String>,
    timeout: Duration,
    dir: PathBuf,
}

impl CommandExit {
    pub fn from_toml(
        name: &str,
        config: &toml::Value,
        data_dir: &Path,
    ) -> Result<CommandExit, ConfigError> {
        let err = |m: String| ConfigError::new("command", m);
        let c: CommandConfig = config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| err(e.message().to_string()))?;
        if c.program.trim().is_empty() {
            return Err(err("`program` is empty".into()));
        }
        // A bare name is looked up in PATH; anything with a slash is relative to the data
        // directory.
        let program = if c.program.contains('/') {
            data_dir.join(&c.program)
        } else {
            PathBuf::from(&c.program)
        };
        let timeout = timeout("command", c.timeout.as_ref(), Duration::from_secs(10))?;
        Ok(CommandExit {
            name: name.to_string(),
            mask: parse_mask("command", c.events.as_ref())?,
            run: Arc::new(Run {
                program,
                args: c.args,
                timeout,
                dir: data_dir.to_path_buf(),
            }),
        })
    }
}

impl Run {
    /// Runs the program once with `input` on stdin (blocking).
    fn run(&self, input: Vec<u8>) -> Result<(), RunError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        let mut child = cmd.spawn().map_err(|source| RunError::Start {
            program: self.program.clone(),
            source,
        })?;
        // Feed stdin and drain stderr on their own threads, so that neither pipe can fill
        // up and block the program while the deadline is watched here.
        let stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            if let Some(mut s) = stdin {
                // A program that exits without reading its input is not an error by itself.
                let _ = s.write_all(&input);
            }
        });
        let stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(s) = stderr {
                // Keep the first bytes; read (and drop) the rest so the program never blocks.
                let mut limited = s.take(64 * 1024);
                let _ = limited.read_to_end(&mut kept);
                let mut rest = limited.into_inner();
                let _ = std::io::copy(&mut rest, &mut std::io::sink());
            }
            kept
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(RunError::TimedOut {
                        program: self.program.clone(),
                        timeout: self.timeout,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(source) => {
                    break Err(RunError::Wait {
                        program: self.program.clone(),
                        source,
                    });
                }
            }
        };
        let _ = writer.join();
        // After a kill, a grandchild may still hold stderr open; do not wait for it.
        let stderr = if status.is_ok() {
            reader.join().unwrap_or_default()
        } else {
            Vec::new()
        };
        let status = status?;
        if status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&stderr);
        let text = signet_core::delivery::truncate(text.trim(), STDERR_LIMIT);
        Err(RunError::Failed {
            program: self.program.clone(),
            status,
            stderr: text.to_string(),
        })
    }
}

/// Why one run of the program failed; the delivery's error (and the log) shows it.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("starting {}", .program.display())]
    Start {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} timed out after {timeout:?} and was killed", .program.display())]
    TimedOut { program: PathBuf, timeout: Duration },
    #[error("waiting for {}", .program.display())]
    Wait {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The program ended unsuccessfully; `stderr` is the start of what it wrote there.
    #[error(
        "{} exited with {status}{}{stderr}",
        .program.display(),
        if .stderr.is_empty() { "" } else { ": " }
    )]
    Failed {
        program: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

impl Exit for CommandExit {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> String {
        format!(
            "runs {} with each event as JSON on stdin",
            self.run.program.display()
        )
    }
    fn start(&self, _ca: &CaInfo) -> Result<EventMask, ModuleError> {
        Ok(self.mask)
    }
    fn notify<'a>(&'a self, ctx: &'a ExitCtx) -> BoxFuture<'a, Result<(), ModuleError>> {
        Box::pin(async move {
            let mut input = serde_json::to_vec(&event_record_with_pem(ctx))
                .map_err(|e| ModuleError::new(&self.name, e.to_string()))?;
            input.push(b'\n');
            let run = Arc::clone(&self.run);
            tokio::task::spawn_blocking(move || run.run(input))
                .await
                .map_err(|e| ModuleError::new(&self.name, format!("command task: {e}")))?
                .map_err(|e| module_error(&self.name, &e))
        })
    }
}
