//! What `signet restore` writes and checks: the target, each file, the staging directory,
//! and the checks a restored installation passes before it replaces the target.

use std::ffi::OsString;
use std::fs;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use signet_store::Database;

use super::archive::{ArchiveReader, Entry};
use super::collect::same_file;
use super::manifest::Manifest;
use super::{BackupError, create_private, set_mode, sync_parent};
use crate::progress::bar as progress;

/// The target must not exist, or be an empty directory.
pub(super) fn check_target(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", target.display())),
        Ok(m) if m.is_dir() => {
            let mut entries =
                fs::read_dir(target).with_context(|| format!("listing {}", target.display()))?;
            if entries.next().is_some() {
                return Err(BackupError::TargetNotEmpty(target.to_path_buf()).into());
            }
            Ok(())
        }
        Ok(_) => Err(BackupError::TargetNotEmpty(target.to_path_buf()).into()),
    }
}

/// Writes every entry of the archive under `dir` (files fsynced, with their modes);
/// returns the files and directories written. Directory modes are set last, deepest
/// first, so a read-only directory is filled before it becomes read-only.
pub(super) fn unpack<R: Read>(
    reader: &mut ArchiveReader<R>,
    dir: &Path,
    archive_size: u64,
) -> Result<(usize, usize)> {
    let bar = progress(archive_size, "restoring");
    let mut files = 0usize;
    let mut dirs = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        match entry {
            Entry::Dir { path, mode } => {
                let sub = path.under(dir);
                fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
                dirs.push((sub, mode));
            }
            Entry::File { path, mode, size } => {
                write_restored(reader, &path.under(dir), mode)
                    .with_context(|| format!("restoring {path}"))?;
                bar.inc(size);
                files += 1;
            }
        }
    }
    bar.finish_and_clear();
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (sub, mode) in &dirs {
        set_mode(sub, *mode)?;
    }
    Ok((files, dirs.len()))
}

/// Writes one file of the archive under its mode (keys stay 0600), fsynced.
fn write_restored<R: Read>(reader: &mut ArchiveReader<R>, file: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = file.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    create_private(file).with_context(|| format!("creating {}", file.display()))?;
    let f = fs::OpenOptions::new()
        .write(true)
        .open(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, f);
    reader.copy_file(&mut out)?;
    let f = out.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    set_mode(file, mode)?;
    Ok(())
}

/// What a restored directory must pass before it replaces the target: a configuration that
/// loads, and for a SQLite installation a sound database whose audit chain verifies with the
/// restored keys. Returns the lines to report.
pub(super) fn check_restored(dir: &Path, manifest: &Manifest) -> Result<Vec<String>> {
    let config = crate::config::Config::load(dir).context("the restored signet.toml")?;
    let database = config.database(dir)?;
    let mut report = Vec::new();
    let Some(entry) = &manifest.database else {
        report.push(match database {
            Database::Postgres(_) => format!(
                "database: {database} (not in the archive); restore it with PostgreSQL's tools before serving"
            ),
            Database::Sqlite(_) => format!(
                "database: not in the archive (--keys-only): put a copy at {} before serving",
                database
            ),
        });
        return Ok(report);
    };
    let restored = entry.under(dir);
    match &database {
        Database::Sqlite(path) if same_file(path, &restored) => {}
        other => {
            return Err(BackupError::DatabaseMismatch {
                archived: entry.to_string(),
                configured: other.to_string(),
            }
            .into());
        }
    }
    let problems = signet_store::snapshot::sqlite_integrity_check(&restored)
        .map_err(|e| anyhow::Error::new(e).context("checking the restored database"))?;
    if !problems.is_empty() {
        return Err(BackupError::Integrity(problems).into());
    }
    report.push(format!("database: {entry}, PRAGMA integrity_check ok"));
    let keys = crate::audit_anchors::for_verify(dir, None)?;
    let witnessed = crate::audit_anchors::local_witness(dir)?;
    let check = signet_store::audit::verify_database(&database, &keys, &witnessed)
        .map_err(|e| anyhow::Error::new(e).context("verifying the restored audit chain"))?;
    if !check.ok() {
        let (seq, why) = check.first_problem().cloned().unwrap_or_default();
        return Err(BackupError::AuditBroken { seq, why }.into());
    }
    report.push(format!(
        "audit chain verified: {} records, {} checkpoints",
        check.records, check.checkpoints_stored
    ));
    Ok(report)
}

/// The restore in progress: a hidden directory beside the target, removed unless committed.
pub(super) struct Staging {
    pub(super) path: PathBuf,
    done: bool,
}

impl Staging {
    pub(super) fn create(target: &Path) -> Result<Staging> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let name = target
            .file_name()
            .with_context(|| format!("{} names no directory", target.display()))?;
        let mut hidden = OsString::from(".");
        hidden.push(name);
        hidden.push(format!(".restore-{}", std::process::id()));
        let path = parent.join(hidden);
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        let staging = Staging { path, done: false };
        set_mode(&staging.path, 0o700)?;
        Ok(staging)
    }

    /// Moves the checked directory into place (an empty target directory is replaced).
    pub(super) fn commit(mut self, target: &Path) -> Result<()> {
        if fs::symlink_metadata(target).is_ok() {
            check_target(target)?;
            fs::remove_dir(target).with_context(|| format!("replacing {}", target.display()))?;
        }
        fs::rename(&self.path, target)
            .with_context(|| format!("moving the restored files to {}", target.display()))?;
        sync_parent(target);
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
