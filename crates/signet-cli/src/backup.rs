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
//! - this file: the two commands, the passphrase and file helpers (progress: `crate::progress`).
//! - `archive.rs`: the file format (PBKDF2 + AES-256-GCM in chunks, entries).
//! - `manifest.rs`: the archive's first entry.
//! - `collect.rs`: what a backup archives (the walk, the snapshot, the file being written).
//! - `restore.rs`: what a restore writes and checks.
//!
//! A restore writes into a hidden directory beside the target and moves it into place only
//! when the whole archive authenticated and the restored database passed
//! `PRAGMA integrity_check` and the audit chain verified with the restored keys: a wrong
//! passphrase, a damaged file or a failed check leaves the target as it was.

mod archive;
mod collect;
mod manifest;
mod restore;

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use signet_store::Database;
use zeroize::Zeroizing;

use archive::{ArchivePath, ArchiveReader, ArchiveWriter};
use manifest::Manifest;

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
    for ca in config
        .cas
        .iter()
        .filter(|ca| signet_pkcs11::Pkcs11Uri::is_pkcs11(&ca.key))
    {
        eprintln!(
            "note: CA {}'s key is on a PKCS#11 token ({}) and not in the backup: back it up with the token's own means (an HSM's backup or cloning)",
            ca.name, ca.key
        );
    }
    for path in collect::outside_files(&config, data) {
        eprintln!(
            "note: {} is outside {} and not in the backup: keep a copy of it",
            path.display(),
            data.display()
        );
    }

    let partial = collect::Partial::create(&args.out)?;
    let skip = collect::Skip {
        // On PostgreSQL, the SQLite file `signet db copy` left behind is no part of the
        // installation any more.
        database: db_path.clone().unwrap_or_else(|| data.join("signet.db")),
        out: [args.out.clone(), partial.path.clone()],
    };
    // The witness is read before the database: the server writes a checkpoint to the
    // database first and to the witness file after, so this order never archives a witness
    // naming a checkpoint the snapshot lacks (a restored server would refuse to start).
    let items = collect::plan(data, &skip)?;
    let snapshot = match (&db_entry, &db_path) {
        (Some(entry), Some(path)) => Some(collect::Snapshot::take(path, entry.clone())?),
        _ => None,
    };
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
    let (files, dirs) = write_items(&mut writer, &items, snapshot.as_ref())?;
    let (out, written) = writer.finish()?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the archive")?;
    partial.commit(file)?;

    println!(
        "backup of {} written to {} ({written} bytes, AES-256-GCM under the passphrase)",
        data.display(),
        args.out.display()
    );
    println!("  files:    {files} in {dirs} directories and the top one");
    match (&snapshot, &database) {
        (Some(s), _) => println!(
            "  database: {}, a consistent snapshot ({} bytes)",
            s.entry, s.info.bytes
        ),
        (None, Database::Postgres(_)) => println!(
            "  database: not included ({database}); back it up with PostgreSQL's tools (docs/HA.md)"
        ),
        (None, Database::Sqlite(_)) => println!("  database: not included (--keys-only)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Archives the walked items, then the database snapshot; returns the files and directories
/// written.
fn write_items<W: Write>(
    writer: &mut ArchiveWriter<W>,
    items: &[collect::Item],
    snapshot: Option<&collect::Snapshot>,
) -> Result<(usize, usize)> {
    let total: u64 =
        items.iter().map(collect::Item::size).sum::<u64>() + snapshot.map_or(0, |s| s.info.bytes);
    let bar = crate::progress::bar(total, "archiving");
    let (mut files, mut dirs) = (0usize, 0usize);
    for item in items {
        match &item.content {
            collect::Content::Dir => {
                writer.add_dir(&item.path, item.mode)?;
                dirs += 1;
            }
            collect::Content::Read(bytes) => {
                writer.add_file(
                    &item.path,
                    item.mode,
                    bytes.len() as u64,
                    &mut bar.wrap_read(&bytes[..]),
                )?;
                files += 1;
            }
            collect::Content::File(source) => {
                if collect::add_file(writer, item, source, &bar)? {
                    files += 1;
                }
            }
        }
    }
    if let Some(s) = snapshot {
        let f = fs::File::open(&s.path)
            .with_context(|| format!("reading the snapshot {}", s.path.display()))?;
        let size = f.metadata()?.len();
        writer.add_file(&s.entry, 0o600, size, &mut bar.wrap_read(BufReader::new(f)))?;
        files += 1;
    }
    bar.finish_and_clear();
    Ok((files, dirs))
}

/// `signet restore --in FILE --data NEWDIR`.
pub fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let passphrase = passphrase(args.passphrase_file.as_ref())?;
    let target = &args.data;
    restore::check_target(target)?;
    let input =
        fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
    let size = input.metadata()?.len();
    // The header and the passphrase are checked before anything is written.
    let (mut reader, manifest) =
        ArchiveReader::open(BufReader::with_capacity(1 << 20, input), &passphrase)
            .with_context(|| format!("reading {}", args.input.display()))?;
    let manifest = Manifest::parse(&manifest)?;

    let staging = restore::Staging::create(target)?;
    let (files, dirs) = restore::unpack(&mut reader, &staging.path, size)
        .with_context(|| format!("restoring {}", args.input.display()))?;
    let checked = restore::check_restored(&staging.path, &manifest)?;
    staging.commit(target)?;
    println!(
        "restored {} into {}: {files} files in {dirs} directories and the top one (backup of {})",
        args.input.display(),
        target.display(),
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
// Files
// ---------------------------------------------------------------------------------------

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
