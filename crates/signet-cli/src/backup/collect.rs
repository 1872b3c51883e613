//! What `signet backup` archives: the walk of the data directory, the database snapshot and
//! the archive file while it is written.

use std::ffi::OsString;
use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use zeroize::Zeroizing;

use super::archive::{ArchivePath, ArchiveWriter};
use super::{BackupError, create_private, mode_of, sync_parent};
use crate::progress::bar as progress;

/// What the walk leaves out.
pub(super) struct Skip {
    /// The SQLite file: it, and every file beside it whose name starts with its name
    /// (`-wal`, `-shm`, `-journal`, a snapshot in progress), are replaced by the snapshot.
    pub(super) database: PathBuf,
    /// The archive being written, if inside the data directory.
    pub(super) out: [PathBuf; 2],
}

impl Skip {
    fn skips(&self, path: &Path) -> bool {
        if self.out.iter().any(|o| same_file(o, path)) {
            return true;
        }
        let db = &self.database;
        let (Some(db_name), Some(name)) = (db.file_name(), path.file_name()) else {
            return false;
        };
        same_dir(db.parent(), path.parent())
            && name
                .as_encoded_bytes()
                .starts_with(db_name.as_encoded_bytes())
    }
}

pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn same_dir(a: Option<&Path>, b: Option<&Path>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_file(a, b),
        _ => false,
    }
}

/// One directory or file to archive.
pub(super) struct Item {
    pub(super) path: ArchivePath,
    pub(super) mode: u32,
    pub(super) content: Content,
}

pub(super) enum Content {
    Dir,
    /// Read when archived.
    File(PathBuf),
    /// Read while planning (the audit witness: see [`backup`]).
    Read(Zeroizing<Vec<u8>>),
}

impl Item {
    pub(super) fn size(&self) -> u64 {
        match &self.content {
            Content::Dir => 0,
            Content::Read(b) => b.len() as u64,
            Content::File(p) => fs::metadata(p).map_or(0, |m| m.len()),
        }
    }
}

/// The data directory's directories and files, parents first, names sorted.
pub(super) fn plan(data: &Path, skip: &Skip) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    walk(data, data, skip, &mut items)?;
    Ok(items)
}

fn walk(root: &Path, dir: &Path, skip: &Skip, items: &mut Vec<Item>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if skip.skips(&path) {
            continue;
        }
        let Some(rel) = ArchivePath::relative(root, &path) else {
            eprintln!(
                "note: {} has a name the archive cannot hold (not UTF-8): skipped",
                path.display()
            );
            continue;
        };
        // Symbolic links are followed: a key linked in from elsewhere is archived as a file.
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if meta.is_dir() {
            if entry.file_type()?.is_symlink() {
                eprintln!("note: {} is a link to a directory: skipped", path.display());
                continue;
            }
            items.push(Item {
                path: rel,
                mode: mode_of(&meta),
                content: Content::Dir,
            });
            walk(root, &path, skip, items)?;
        } else if meta.is_file() {
            let content = if rel.as_str() == crate::audit_anchors::WITNESS_FILE {
                Content::Read(Zeroizing::new(
                    fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                ))
            } else {
                Content::File(path)
            };
            items.push(Item {
                path: rel,
                mode: mode_of(&meta),
                content,
            });
        } else {
            eprintln!("note: {} is not a regular file: skipped", path.display());
        }
    }
    Ok(())
}

/// Archives one file; `false` if it disappeared since the walk (a temporary file).
pub(super) fn add_file<W: Write>(
    writer: &mut ArchiveWriter<W>,
    item: &Item,
    source: &Path,
    bar: &ProgressBar,
) -> Result<bool> {
    let f = match fs::File::open(source) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {}", source.display())),
    };
    // The size of the open file: a file rewritten meanwhile is read as it is now.
    let size = f.metadata()?.len();
    writer
        .add_file(
            &item.path,
            item.mode,
            size,
            &mut bar.wrap_read(BufReader::new(f)),
        )
        .with_context(|| format!("archiving {}", source.display()))?;
    Ok(true)
}

/// Files `signet.toml` names outside the data directory: the backup cannot restore them.
pub(super) fn outside_files(config: &crate::config::Config, data: &Path) -> Vec<PathBuf> {
    let mut named: Vec<&str> = Vec::new();
    for ca in &config.cas {
        named.push(ca.certificate.as_str());
        // A key on a PKCS#11 token is no file (`backup` names it separately); an offline
        // CA names none.
        if !ca.offline && !signet_pkcs11::Pkcs11Uri::is_pkcs11(&ca.key) {
            named.push(ca.key.as_str());
        }
    }
    if let Some(tls) = &config.server.tls {
        named.extend([tls.certificate.as_str(), tls.key.as_str()]);
        named.extend(tls.client_ca.as_deref());
    }
    named.extend(config.server.database_password_file.as_deref());
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root = real(data);
    named
        .into_iter()
        .map(|p| crate::config::Config::resolve(data, p))
        .filter(|p| !real(p).starts_with(&root))
        .collect()
}

/// The database snapshot, removed when dropped.
pub(super) struct Snapshot {
    pub(super) path: PathBuf,
    pub(super) entry: ArchivePath,
    pub(super) info: signet_store::snapshot::Snapshot,
}

impl Snapshot {
    /// A consistent copy of the live database, beside it (the same directory, so the same
    /// protection), named so that the walk skips it.
    pub(super) fn take(db: &Path, entry: ArchivePath) -> Result<Snapshot> {
        let mut name = db.as_os_str().to_owned();
        name.push(format!(".backup-{}", std::process::id()));
        let path = PathBuf::from(name);
        let spinner = progress(0, "snapshot of the database");
        let taken = signet_store::snapshot::sqlite_snapshot(db, &path);
        spinner.finish_and_clear();
        match taken {
            Ok(info) => Ok(Snapshot { path, entry, info }),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(anyhow::Error::new(e).context(format!("taking a snapshot of {}", db.display())))
            }
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The archive while it is written: `FILE.partial`, renamed to FILE when complete and
/// removed if anything fails.
pub(super) struct Partial {
    pub(super) path: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Partial {
    pub(super) fn create(target: &Path) -> Result<Partial> {
        let mut name: OsString = target.as_os_str().to_owned();
        name.push(".partial");
        let path = PathBuf::from(name);
        create_private(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Partial {
            path,
            target: target.to_path_buf(),
            done: false,
        })
    }

    pub(super) fn file(&self) -> Result<fs::File> {
        fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))
    }

    /// Fsyncs the archive and renames it into place (refusing, still, to replace a file).
    pub(super) fn commit(mut self, file: fs::File) -> Result<()> {
        file.sync_all()
            .with_context(|| format!("writing {}", self.path.display()))?;
        drop(file);
        if self.target.exists() {
            return Err(BackupError::OutputExists(self.target.clone()).into());
        }
        fs::rename(&self.path, &self.target)
            .with_context(|| format!("renaming {} into place", self.path.display()))?;
        sync_parent(&self.target);
        self.done = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_skips_the_live_database_and_the_archive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path();
        for f in [
            "signet.toml",
            "signet.db",
            "signet.db-wal",
            "signet.db-shm",
            "signet.db.backup-77",
            "admin.token",
            "out.bak",
            "out.bak.partial",
        ] {
            fs::write(data.join(f), f).expect("write");
        }
        fs::create_dir_all(data.join("ca/demo")).expect("mkdir");
        fs::write(data.join("ca/demo/key.pem"), "k").expect("write");
        // A file named like the database in another directory is kept.
        fs::write(data.join("ca/signet.db-notes"), "n").expect("write");
        let skip = Skip {
            database: data.join("signet.db"),
            out: [data.join("out.bak"), data.join("out.bak.partial")],
        };
        let names: Vec<String> = plan(data, &skip)
            .expect("plan")
            .iter()
            .map(|i| i.path.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "admin.token",
                "ca",
                "ca/demo",
                "ca/demo/key.pem",
                "ca/signet.db-notes",
                "signet.toml"
            ]
        );
    }
}
