//! `signet backup` and `signet restore`: an installation in one encrypted file, taken while
//! it serves, and brought back into a new data directory that serves as the old one did.
//!
//! What a backup holds: every file and directory of the data directory (`signet.toml`, the CA
//! keys and certificates, `admin.token`, the audit keys and witness, `token-secret.key`, the
//! SCEP and CMP service keys, anything else put there), and a snapshot of the SQLite database
//! taken with SQLite's online backup API (`signet_store::snapshot`) in place of the live
//! `signet.db`, `-wal` and `-shm` files. With PostgreSQL the database is not Signet's to copy:
//! `--keys-only` archives the directory alone, and PostgreSQL's own tools back up the
//! database (docs/HA.md, "Backups").
//!
//! # Layout
//! - this file: the two commands, the walk of the data directory, the checks of a restore.
//! - `archive.rs`: the file format (PBKDF2 + AES-256-GCM in chunks, entries).
//!
//! A restore writes into a hidden directory beside the target and moves it into place only
//! when the whole archive authenticated and the restored database passed
//! `PRAGMA integrity_check` and the audit chain verified with the restored keys: a wrong
//! passphrase, a damaged file or a failed check leaves the target as it was.

mod archive;

use std::ffi::OsString;
use std::fs;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use signet_store::Database;
use zeroize::Zeroizing;

use archive::{ArchivePath, ArchiveReader, ArchiveWriter, Entry};

/// Where the archive's passphrase comes from when no file is named.
pub const PASSPHRASE_ENV: &str = "SIGNET_BACKUP_PASSPHRASE";

/// `signet backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The data directory; it may be serving.
    #[arg(long, default_value = "./signet-data")]
    data: PathBuf,
    /// The archive to write; an existing file is never replaced.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A file holding the archive's passphrase (or SIGNET_BACKUP_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// The data directory's files without the database: for a PostgreSQL installation, whose
    /// database PostgreSQL's own tools back up (docs/HA.md).
    #[arg(long)]
    keys_only: bool,
}

/// `signet restore`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The archive `signet backup` wrote.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// The new data directory: it must not exist, or be empty.
    #[arg(long)]
    data: PathBuf,
    /// A file holding the archive's passphrase (or SIGNET_BACKUP_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// Why a backup or a restore was refused (archive problems are `archive::ArchiveError`).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no passphrase for the archive: give --passphrase-file FILE or set {PASSPHRASE_ENV}")]
    NoPassphrase,
    #[error(
        "[server] database is the PostgreSQL database {0}: back it up with PostgreSQL's tools \
         (pg_basebackup with WAL archiving, or pg_dump; docs/HA.md, \"Backups\"), and this data \
         directory with `signet backup --keys-only`"
    )]
    Postgres(String),
    #[error(
        "the database {0} is outside the data directory: signet backup archives a database kept \
         inside it (move it there and set [server] database to its relative path), or use --keys-only"
    )]
    DatabaseOutside(PathBuf),
    #[error("{0} exists: signet backup never replaces a file, choose another name")]
    OutputExists(PathBuf),
    #[error("{0} exists and is not an empty directory: restore into a new directory")]
    TargetNotEmpty(PathBuf),
    #[error("the archive's manifest is not one signet backup writes: {0}")]
    BadManifest(&'static str),
    #[error("the restored database fails PRAGMA integrity_check: {}", .0.join("; "))]
    Integrity(Vec<String>),
    #[error("the restored audit chain does not verify at record {seq}: {why}")]
    AuditBroken { seq: u64, why: String },
    #[error("the archive names the database {archived}, but its signet.toml names {configured}")]
    DatabaseMismatch {
        archived: String,
        configured: String,
    },
}

/// `signet backup --data DIR --out FILE`.
pub fn backup(args: BackupArgs) -> Result<ExitCode> {
    let passphrase = passphrase(args.passphrase_file.as_ref())?;
    let data = &args.data;
    let config = crate::config::Config::load(data)?;
    let database = config.database(data)?;
    let db_path = match (&database, args.keys_only) {
        (Database::Postgres(_), false) => {
            return Err(BackupError::Postgres(database.to_string()).into());
        }
        (Database::Postgres(_), true) => None,
        (Database::Sqlite(path), _) => Some(path.clone()),
    };
    let db_entry = match (&db_path, args.keys_only) {
        (Some(path), false) => Some(
            ArchivePath::relative(data, path)
                .ok_or_else(|| BackupError::DatabaseOutside(path.clone()))?,
        ),
        _ => None,
    };
    if args.out.exists() {
        return Err(BackupError::OutputExists(args.out.clone()).into());
    }
    for path in outside_files(&config, data) {
        eprintln!(
            "note: {} is outside {} and not in the backup: keep a copy of it",
            path.display(),
            data.display()
        );
    }

    let partial = Partial::create(&args.out)?;
    let skip = Skip {
        // On PostgreSQL, the SQLite file `signet db copy` left behind is no part of the
        // installation any more.
        database: db_path.clone().unwrap_or_else(|| data.join("signet.db")),
        out: [args.out.clone(), partial.path.clone()],
    };
    // The witness is read before the database: the server writes a checkpoint to the
    // database first and to the witness file after, so this order never archives a witness
    // naming a checkpoint the snapshot lacks (a restored server would refuse to start).
    let items = plan(data, &skip)?;
    let snapshot = match (&db_entry, &db_path) {
        (Some(entry), Some(path)) => Some(Snapshot::take(path, entry.clone())?),
        _ => None,
    };
    let total: u64 =
        items.iter().map(Item::size).sum::<u64>() + snapshot.as_ref().map_or(0, |s| s.info.bytes);
    let bar = progress(total, "archiving");

    let manifest = Manifest {
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        signet: env!("CARGO_PKG_VERSION").to_string(),
        database: db_entry.clone(),
    };
    let out = BufWriter::with_capacity(1 << 20, partial.file()?);
    let mut writer = ArchiveWriter::new(
        out,
        &passphrase,
        signet_keys::PBKDF2_ITERATIONS,
        &manifest.render(),
    )?;
    let (mut files, mut dirs) = (0usize, 0usize);
    for item in &items {
        match &item.content {
            Content::Dir => {
                writer.add_dir(&item.path, item.mode)?;
                dirs += 1;
            }
            Content::Read(bytes) => {
                writer.add_file(
                    &item.path,
                    item.mode,
                    bytes.len() as u64,
                    &mut bar.wrap_read(&bytes[..]),
                )?;
                files += 1;
            }
            Content::File(source) => {
                if add_file(&mut writer, item, source, &bar)? {
                    files += 1;
                }
            }
        }
    }
    if let Some(s) = &snapshot {
        let f = fs::File::open(&s.path)
            .with_context(|| format!("reading the snapshot {}", s.path.display()))?;
        let size = f.metadata()?.len();
        writer.add_file(&s.entry, 0o600, size, &mut bar.wrap_read(BufReader::new(f)))?;
        files += 1;
    }
    let (out, written) = writer.finish()?;
    bar.finish_and_clear();
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the archive")?;
    partial.commit(file)?;
    let snapshot_bytes = snapshot.as_ref().map(|s| s.info.bytes);
    drop(snapshot);

    println!(
        "backup of {} written to {} ({written} bytes, AES-256-GCM under the passphrase)",
        data.display(),
        args.out.display()
    );
    println!("  files:    {files} in {dirs} directories and the top one");
    match (&db_entry, snapshot_bytes) {
        (Some(entry), Some(bytes)) => {
            println!("  database: {entry}, a consistent snapshot ({bytes} bytes)");
        }
        _ => println!(
            "  database: not included ({}); back it up with its own tools",
            database
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `signet restore --in FILE --data NEWDIR`.
pub fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let passphrase = passphrase(args.passphrase_file.as_ref())?;
    let target = &args.data;
    check_target(target)?;
    let input =
        fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
    let size = input.metadata()?.len();
    // The header and the passphrase are checked before anything is written.
    let (mut reader, manifest) =
        ArchiveReader::open(BufReader::with_capacity(1 << 20, input), &passphrase)
            .with_context(|| format!("reading {}", args.input.display()))?;
    let manifest = Manifest::parse(&manifest)?;

    let staging = Staging::create(target)?;
    let bar = progress(size, "restoring");
    let mut files = 0usize;
    let mut dirs = Vec::new();
    while let Some(entry) = reader
        .next_entry()
        .with_context(|| format!("reading {}", args.input.display()))?
    {
        match entry {
            Entry::Dir { path, mode } => {
                let dir = path.under(&staging.path);
                fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                dirs.push((dir, mode));
            }
            Entry::File { path, mode, size } => {
                let file = path.under(&staging.path);
                write_restored(&mut reader, &file, mode)
                    .with_context(|| format!("restoring {path}"))?;
                bar.inc(size);
                files += 1;
            }
        }
    }
    bar.finish_and_clear();
    // Directory modes last (deepest first), so a read-only directory is filled before it
    // becomes read-only.
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode) in &dirs {
        set_mode(dir, *mode)?;
    }

    let checked = check_restored(&staging.path, &manifest)?;
    staging.commit(target)?;
    println!(
        "restored {} into {}: {files} files in {} directories and the top one (backup of {})",
        args.input.display(),
        target.display(),
        dirs.len(),
        manifest.created_text()
    );
    for line in checked {
        println!("  {line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The archive's passphrase: a file, else [`PASSPHRASE_ENV`]; never an argument (command
/// lines are visible to every user of the machine).
fn passphrase(file: Option<&PathBuf>) -> Result<Zeroizing<Vec<u8>>> {
    crate::read_secret(file, PASSPHRASE_ENV)?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| BackupError::NoPassphrase.into())
}

// ---------------------------------------------------------------------------------------
// Backup: what is archived
// ---------------------------------------------------------------------------------------

/// What the walk leaves out.
struct Skip {
    /// The SQLite file: it, and every file beside it whose name starts with its name
    /// (`-wal`, `-shm`, `-journal`, a snapshot in progress), are replaced by the snapshot.
    database: PathBuf,
    /// The archive being written, if inside the data directory.
    out: [PathBuf; 2],
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

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn same_dir(a: Option<&Path>, b: Option<&Path>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_file(a, b),
        _ => false,
    }
}

/// One directory or file to archive.
struct Item {
    path: ArchivePath,
    mode: u32,
    content: Content,
}

enum Content {
    Dir,
    /// Read when archived.
    File(PathBuf),
    /// Read while planning (the audit witness: see [`backup`]).
    Read(Zeroizing<Vec<u8>>),
}

impl Item {
    fn size(&self) -> u64 {
        match &self.content {
            Content::Dir => 0,
            Content::Read(b) => b.len() as u64,
            Content::File(p) => fs::metadata(p).map_or(0, |m| m.len()),
        }
    }
}

/// The data directory's directories and files, parents first, names sorted.
fn plan(data: &Path, skip: &Skip) -> Result<Vec<Item>> {
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
fn add_file<W: Write>(
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
fn outside_files(config: &crate::config::Config, data: &Path) -> Vec<PathBuf> {
    let mut named: Vec<&str> = Vec::new();
    for ca in &config.cas {
        named.extend([ca.key.as_str(), ca.certificate.as_str()]);
    }
    if let Some(tls) = &config.server.tls {
        named.extend([tls.certificate.as_str(), tls.key.as_str()]);
        named.extend(tls.client_ca.as_deref());
    }
    named.extend(config.server.database_password_file.as_deref());
    named
        .into_iter()
        .map(|p| crate::config::Config::resolve(data, p))
        .filter(|p| !p.starts_with(data))
        .collect()
}

/// The database snapshot, removed when dropped.
struct Snapshot {
    path: PathBuf,
    entry: ArchivePath,
    info: signet_store::snapshot::Snapshot,
}

impl Snapshot {
    /// A consistent copy of the live database, beside it (the same directory, so the same
    /// protection), named so that the walk skips it.
    fn take(db: &Path, entry: ArchivePath) -> Result<Snapshot> {
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
struct Partial {
    path: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Partial {
    fn create(target: &Path) -> Result<Partial> {
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

    fn file(&self) -> Result<fs::File> {
        fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))
    }

    /// Fsyncs the archive and renames it into place (refusing, still, to replace a file).
    fn commit(mut self, file: fs::File) -> Result<()> {
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

// ---------------------------------------------------------------------------------------
// Restore
// ---------------------------------------------------------------------------------------

/// The target must not exist, or be an empty directory.
fn check_target(target: &Path) -> Result<()> {
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
fn check_restored(dir: &Path, manifest: &Manifest) -> Result<Vec<String>> {
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
struct Staging {
    path: PathBuf,
    done: bool,
}

impl Staging {
    fn create(target: &Path) -> Result<Staging> {
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
    fn commit(mut self, target: &Path) -> Result<()> {
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

// ---------------------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------------------

/// The archive's first entry: what it is and whether it holds a database.
///
/// ```text
/// signet-backup
/// created 1767225600
/// signet 0.1.0
/// database signet.db        (or: database none)
/// ```
struct Manifest {
    /// Unix seconds.
    created: u64,
    /// The version of the signet that wrote it.
    signet: String,
    /// Where the database snapshot is, relative to the data directory.
    database: Option<ArchivePath>,
}

const MANIFEST_HEAD: &str = "signet-backup";

impl Manifest {
    fn render(&self) -> String {
        format!(
            "{MANIFEST_HEAD}\ncreated {}\nsignet {}\ndatabase {}\n",
            self.created,
            self.signet,
            self.database.as_ref().map_or("none", ArchivePath::as_str)
        )
    }

    /// Reads a manifest; lines it does not know are left for later versions.
    fn parse(text: &str) -> Result<Manifest, BackupError> {
        let mut lines = text.lines();
        if lines.next() != Some(MANIFEST_HEAD) {
            return Err(BackupError::BadManifest("no signet-backup line"));
        }
        let (mut created, mut signet, mut database) = (None, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "created" => created = value.parse().ok(),
                "signet" => signet = Some(value.to_string()),
                "database" if value == "none" => database = Some(None),
                "database" => {
                    let path = ArchivePath::new(value)
                        .map_err(|_| BackupError::BadManifest("a bad database path"))?;
                    database = Some(Some(path));
                }
                _ => {}
            }
        }
        Ok(Manifest {
            created: created.ok_or(BackupError::BadManifest("no created line"))?,
            signet: signet.unwrap_or_default(),
            database: database.ok_or(BackupError::BadManifest("no database line"))?,
        })
    }

    fn created_text(&self) -> String {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(self.created);
        format!(
            "{} by signet {}",
            signet_x509::time::rfc3339(at),
            self.signet
        )
    }
}

// ---------------------------------------------------------------------------------------
// Files and progress
// ---------------------------------------------------------------------------------------

/// A progress bar on standard error when it is a terminal, hidden otherwise (scripts, logs).
fn progress(total: u64, what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    if total == 0 {
        let spinner = ProgressBar::new_spinner().with_message(what);
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        return spinner;
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total).with_style(style).with_message(what)
}

/// Creates an empty file readable by its owner only (0600), failing if it exists.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Sets the permission bits (no set-id or sticky bits: an archive cannot grant them).
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o777))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn mode_of(meta: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0o600
    }
}

/// Fsyncs the directory holding `path`, so a rename into it survives a power cut.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_round_trips_and_refuses_what_it_does_not_know() {
        for database in [None, Some(ArchivePath::new("db/signet.db").expect("path"))] {
            let m = Manifest {
                created: 1_767_225_600,
                signet: "0.1.0".into(),
                database: database.clone(),
            };
            let back = Manifest::parse(&m.render()).expect("parses");
            assert_eq!((back.created, back.database), (m.created, database));
        }
        assert!(
            Manifest::parse("signet-backup\ncreated 1\nlater-field x\ndatabase none\n").is_ok()
        );
        for bad in [
            "",
            "something else\ncreated 1\ndatabase none\n",
            "signet-backup\ndatabase none\n",
            "signet-backup\ncreated 1\n",
            "signet-backup\ncreated 1\ndatabase ../../etc/passwd\n",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad:?}");
        }
    }

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
