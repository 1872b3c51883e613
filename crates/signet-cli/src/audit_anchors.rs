//! The audit chain's anchors on disk and on the clock (see signet-core's `audit` module).
//!
//! Files in the data directory:
//! - `audit.key` (0600): the chain key, text — `signet-audit-key-v1`, `first-seq N` (the
//!   first audit record it links) and `key HEX` (256 bits). Created by `signet init`, or by
//!   the first start of an installation from before keyed chains (whose records up to then
//!   become the legacy segment).
//! - `audit-signing.key` (0600): the Ed25519 key that signs checkpoints, PKCS#8 PEM, encrypted
//!   with the CA key's passphrase when there is one. Separate from every CA key.
//! - `audit-signing.pub`: its public key (SPKI PEM). Copy it off the machine: with a copy an
//!   attacker cannot swap, `signet audit verify --public-key` trusts no file they can write.
//! - `audit-checkpoint.json`: the newest checkpoint, rewritten after each one (a witness on
//!   the local disk; exit modules keep the ones outside).
//!
//! [`Checkpointer`] signs a checkpoint when `[server] audit_checkpoint` has passed or
//! `audit_checkpoint_records` records were appended since the last one (whichever first),
//! and once more at shutdown. With several nodes on one database, only the node holding the
//! `audit-checkpoint` lease signs (two would race for one checkpoint number); a checkpoint
//! number another node took first is logged and skipped, never fatal.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use signet_core::audit::{AuditCheckpoint, CheckpointJson, checkpoint_key_id, ed25519_public_key};
use signet_core::{AUDIT_CHECKPOINT_LEASE, Authority, Random, Signer, Store, StoreError};
use signet_keys::{SoftwareKey, SystemRandom};
use signet_store::audit::{AuditKeys, ChainKey};
use signet_x509::KeyAlgorithm;

pub const KEY_FILE: &str = "audit.key";
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";
pub const WITNESS_FILE: &str = "audit-checkpoint.json";

const KEY_HEADER: &str = "signet-audit-key-v1";

/// What `serve` links, checks and signs the audit chain with.
pub struct Anchors {
    pub keys: AuditKeys,
    pub signer: Arc<SoftwareKey>,
    /// The keys were made by this start (an installation from before keyed chains): sign a
    /// checkpoint of the legacy segment right away.
    pub created: bool,
}

/// `signet init`: a new chain key linking from record 1, and a new signing key.
pub fn create(data: &Path, passphrase: Option<&[u8]>) -> Result<()> {
    create_chain_key(data, 1)?;
    create_signing_key(data, passphrase)?;
    Ok(())
}

/// `signet serve`: reads the key files, creating them for an installation from before keyed
/// chains. Refuses to make new keys for a database whose chain an earlier key signed.
pub fn load_or_create(
    data: &Path,
    db: &signet_store::Database,
    passphrase: Option<&[u8]>,
) -> Result<Anchors> {
    let key_path = data.join(KEY_FILE);
    let signing_path = data.join(SIGNING_KEY_FILE);
    let (head, checkpoints) = signet_store::audit::anchors_of(db)
        .map_err(|e| anyhow::anyhow!("reading the audit log: {e}"))?;
    let mut created = false;
    if !key_path.exists() || !signing_path.exists() {
        if checkpoints > 0 {
            bail!(
                "{} or {} is missing, but the database holds {checkpoints} signed audit checkpoints: \
                 restore the key files from a backup (new keys would make the existing chain unverifiable)",
                key_path.display(),
                signing_path.display()
            );
        }
        if !key_path.exists() {
            create_chain_key(data, head + 1)?;
            tracing::warn!(
                first_seq = head + 1,
                "created the audit chain key {}: records 1 to {head} stay verifiable only as the unkeyed legacy segment",
                key_path.display()
            );
        }
        if !signing_path.exists() {
            create_signing_key(data, passphrase)?;
            tracing::warn!(
                "created the audit checkpoint signing key {}; copy {} off this machine",
                signing_path.display(),
                data.join(PUBLIC_KEY_FILE).display()
            );
        }
        created = true;
    }
    check_witness_file(data, db)?;
    let chain = read_chain_key(&key_path)?;
    let pem =
        fs::read(&signing_path).with_context(|| format!("reading {}", signing_path.display()))?;
    let signer = SoftwareKey::from_pem(&pem, passphrase).map_err(|e| match e {
        signet_keys::KeyError::PassphraseRequired => anyhow::anyhow!(
            "the audit signing key {} is encrypted: give --passphrase-file FILE or set SIGNET_PASSPHRASE",
            signing_path.display()
        ),
        other => anyhow::anyhow!("loading {}: {other}", signing_path.display()),
    })?;
    let public = ed25519_public_key(signer.public_key_der())
        .with_context(|| format!("{} is not an Ed25519 key", signing_path.display()))?;
    Ok(Anchors {
        keys: AuditKeys {
            chain: Some(chain),
            checkpoint_public_key: Some(public),
        },
        signer: Arc::new(signer),
        created,
    })
}

/// The newest checkpoint in the local witness file must still be in the database as signed:
/// otherwise records or checkpoints were cut, and signing a new checkpoint over the shorter
/// log would overwrite the evidence. The server refuses to start instead.
fn check_witness_file(data: &Path, db: &signet_store::Database) -> Result<()> {
    let witness = data.join(WITNESS_FILE);
    if !witness.exists() || !db.exists() {
        return Ok(());
    }
    let newest = read_checkpoints(&witness)?
        .into_iter()
        .max_by_key(|c| c.number)
        .context("the witness file holds no checkpoint")?;
    if let Some(problem) = signet_store::audit::check_witness(db, &newest)
        .map_err(|e| anyhow::anyhow!("checking {}: {e}", witness.display()))?
    {
        bail!(
            "{problem}, but {} (the last checkpoint this server signed) names it: audit records \
             or checkpoints were removed or changed in {}. Run `signet audit verify --data {} --checkpoint {}`; \
             if the database was restored from a backup on purpose, move {} aside to start",
            witness.display(),
            db,
            data.display(),
            witness.display(),
            witness.display()
        );
    }
    Ok(())
}

/// The checkpoint number in the local witness file, if any.
fn witness_number(witness: &Path) -> Option<u64> {
    read_checkpoints(witness)
        .ok()?
        .into_iter()
        .map(|c| c.number)
        .max()
}

/// `signet audit verify --data`: whatever key files exist (nothing is created), the public
/// key from `public_key` if given, else from the data directory.
pub fn for_verify(data: &Path, public_key: Option<&Path>) -> Result<AuditKeys> {
    let key_path = data.join(KEY_FILE);
    let chain = if key_path.exists() {
        Some(read_chain_key(&key_path)?)
    } else {
        None
    };
    let public_path = public_key.map_or_else(|| data.join(PUBLIC_KEY_FILE), Path::to_path_buf);
    let checkpoint_public_key = if public_path.exists() {
        Some(read_public_key(&public_path)?)
    } else if public_key.is_some() {
        bail!("no public key at {}", public_path.display());
    } else {
        None
    };
    Ok(AuditKeys {
        chain,
        checkpoint_public_key,
    })
}

/// The checkpoints of the local witness file (`audit-checkpoint.json`), each named by the
/// file, as `audit verify` reports them; none when there is no such file.
pub fn local_witness(data: &Path) -> Result<Vec<(String, AuditCheckpoint)>> {
    let local = data.join(WITNESS_FILE);
    if !local.exists() {
        return Ok(Vec::new());
    }
    Ok(read_checkpoints(&local)?
        .into_iter()
        .map(|c| (WITNESS_FILE.to_string(), c))
        .collect())
}

/// Checkpoints in a file kept elsewhere: the `file` exit module's event record, a webhook
/// body, `audit-checkpoint.json`, or lines of a log holding any of them (a JSON object per
/// line, or a text line with the checkpoint's JSON in it).
pub fn read_checkpoints(path: &Path) -> Result<Vec<AuditCheckpoint>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut found = Vec::new();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => collect(&v, &mut found),
        Err(_) => {
            for line in text.lines() {
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) => collect(&v, &mut found),
                    Err(_) => {
                        // A text log line: the checkpoint's JSON somewhere inside it.
                        if let Some(at) = line.find("{\"checkpoint\":") {
                            let mut stream = serde_json::Deserializer::from_str(&line[at..])
                                .into_iter::<serde_json::Value>();
                            if let Some(Ok(v)) = stream.next() {
                                collect(&v, &mut found);
                            }
                        }
                    }
                }
            }
        }
    }
    if found.is_empty() {
        bail!("{} holds no audit checkpoint", path.display());
    }
    found.dedup();
    Ok(found)
}

/// Finds checkpoint objects in a JSON value, also inside strings that hold JSON (a field of
/// a JSON log line).
fn collect(v: &serde_json::Value, out: &mut Vec<AuditCheckpoint>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(c) = checkpoint_of(v) {
                out.push(c);
                return;
            }
            for child in map.values() {
                collect(child, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        serde_json::Value::String(s) if s.starts_with("{\"checkpoint\":") => {
            if let Ok(inner) = serde_json::from_str(s) {
                collect(&inner, out);
            }
        }
        _ => {}
    }
}

fn checkpoint_of(v: &serde_json::Value) -> Option<AuditCheckpoint> {
    Some(AuditCheckpoint {
        number: v.get("checkpoint")?.as_u64()?,
        seq: v.get("seq")?.as_u64()?,
        hash: hex::decode(v.get("hash")?.as_str()?).ok()?,
        at: UNIX_EPOCH + Duration::from_secs(v.get("at")?.as_u64()?),
        signature: hex::decode(v.get("signature")?.as_str()?).ok()?,
    })
}

/// Signs checkpoints on a schedule; [`Checkpointer::stop`] signs the last one.
pub struct Checkpointer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    authority: Arc<Authority>,
    signer: Arc<SoftwareKey>,
    witness: PathBuf,
}

/// When checkpoints are due.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    pub records: u64,
}

impl Schedule {
    /// `[server] audit_checkpoint` and `audit_checkpoint_records`.
    pub fn from_config(
        interval: &crate::config::DurationSetting,
        records: u64,
    ) -> Result<Schedule> {
        let interval = interval
            .whole_seconds()
            .context("[server] audit_checkpoint")?;
        if interval.is_zero() {
            bail!("[server] audit_checkpoint must be at least 1s");
        }
        if records == 0 {
            bail!("[server] audit_checkpoint_records must be at least 1");
        }
        Ok(Schedule { interval, records })
    }
}

impl Checkpointer {
    /// Starts the schedule; with `first_now`, signs a checkpoint at once (new keys: this
    /// anchors the legacy segment).
    pub fn spawn(
        authority: Arc<Authority>,
        store: Arc<dyn Store>,
        signer: Arc<SoftwareKey>,
        data: &Path,
        schedule: Schedule,
        first_now: bool,
    ) -> Checkpointer {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let witness = data.join(WITNESS_FILE);
        let task = {
            let authority = Arc::clone(&authority);
            let signer = Arc::clone(&signer);
            let witness = witness.clone();
            tokio::spawn(async move {
                if first_now && authority.hold_lease(AUDIT_CHECKPOINT_LEASE).await {
                    checkpoint(&authority, signer.as_ref(), &witness, "key-created").await;
                }
                // The head is polled (one indexed read) at most every 5 s, so the record
                // count is honoured within a few seconds.
                let poll = schedule.interval.min(Duration::from_secs(5));
                let mut last_at = Instant::now();
                let mut last_seq = 0;
                let mut held = false;
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        () = tokio::time::sleep(poll) => {}
                    }
                    if !authority.hold_lease(AUDIT_CHECKPOINT_LEASE).await {
                        held = false;
                        continue;
                    }
                    if !held {
                        // This node signs from now on: count from the newest checkpoint,
                        // whichever node signed it.
                        match store.audit_checkpoint_base().await {
                            Ok(b) => last_seq = b.last.map_or(0, |l| l.seq),
                            Err(e) => {
                                tracing::error!(error = %e, "reading the newest audit checkpoint");
                                continue;
                            }
                        }
                        held = true;
                    }
                    let head = match store.audit_head().await {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!(error = %e, "reading the audit head");
                            continue;
                        }
                    };
                    let new = head.saturating_sub(last_seq);
                    let reason = if new >= schedule.records {
                        "records"
                    } else if new > 0 && last_at.elapsed() >= schedule.interval {
                        "interval"
                    } else {
                        continue;
                    };
                    if let Some(c) = checkpoint(&authority, signer.as_ref(), &witness, reason).await
                    {
                        last_seq = c.seq;
                    }
                    last_at = Instant::now();
                }
            })
        };
        Checkpointer {
            stop,
            task,
            authority,
            signer,
            witness,
        }
    }

    /// Stops the schedule and signs the final checkpoint (call after the last audit record,
    /// before the last delivery to the exit modules), if this node holds the checkpoint
    /// lease; otherwise the node holding it signs this node's last records.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        if !self.authority.hold_lease(AUDIT_CHECKPOINT_LEASE).await {
            tracing::info!("another node signs the audit checkpoints; no final checkpoint here");
            return;
        }
        checkpoint(
            &self.authority,
            self.signer.as_ref(),
            &self.witness,
            "shutdown",
        )
        .await;
    }
}

/// One checkpoint, logged, with the local witness file rewritten.
async fn checkpoint(
    authority: &Authority,
    signer: &SoftwareKey,
    witness: &Path,
    reason: &str,
) -> Option<AuditCheckpoint> {
    match authority.checkpoint_audit(signer, reason).await {
        Ok(Some(c)) if witness_number(witness).is_some_and(|n| c.number <= n) => {
            // The database's newest checkpoint is older than the one this server last wrote
            // down: checkpoints were removed while it ran. Keep the evidence.
            tracing::error!(
                checkpoint = c.number,
                file = %witness.display(),
                "audit checkpoints were removed from the database; the witness file is kept, run `signet audit verify`"
            );
            Some(c)
        }
        Ok(Some(c)) => {
            tracing::info!(
                checkpoint = c.number,
                seq = c.seq,
                reason,
                "audit checkpoint signed"
            );
            let json = c.to_json(&checkpoint_key_id(signer.public_key_der()), reason);
            if let Err(e) = write_atomic(witness, format!("{json}\n").as_bytes()) {
                tracing::warn!(error = %e, file = %witness.display(), "could not write the audit checkpoint file");
            }
            Some(c)
        }
        Ok(None) => None,
        // Another node recorded this checkpoint number (or moved the head) first: its
        // checkpoint anchors the chain, and the next one here builds on it.
        Err(e @ (StoreError::Conflict(_) | StoreError::StateChanged(_))) => {
            tracing::info!(error = %e, reason, "another node signed an audit checkpoint first");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, reason, "could not sign an audit checkpoint");
            None
        }
    }
}

fn create_chain_key(data: &Path, first_seq: u64) -> Result<()> {
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(secret.as_mut())
        .context("random audit key")?;
    let text = zeroize::Zeroizing::new(format!(
        "{KEY_HEADER}\n# HMAC-SHA256 key of the audit chain: keep it secret, keep a copy off this machine.\nfirst-seq {first_seq}\nkey {}\n",
        hex::encode(secret.as_ref())
    ));
    crate::init::write_private(&data.join(KEY_FILE), text.as_bytes())
}

fn create_signing_key(data: &Path, passphrase: Option<&[u8]>) -> Result<()> {
    let key =
        SoftwareKey::generate(KeyAlgorithm::Ed25519).context("generating the audit signing key")?;
    let pem = match passphrase {
        Some(p) => key
            .to_encrypted_pem(p)
            .context("encrypting the audit signing key")?,
        None => key
            .to_unencrypted_pem()
            .context("encoding the audit signing key")?,
    };
    crate::init::write_private(&data.join(SIGNING_KEY_FILE), pem.as_bytes())?;
    let public = signet_x509::pem::encode("PUBLIC KEY", key.public_key_der());
    write_atomic(&data.join(PUBLIC_KEY_FILE), public.as_bytes())
        .with_context(|| format!("writing {}", data.join(PUBLIC_KEY_FILE).display()))
}

fn read_chain_key(path: &Path) -> Result<ChainKey> {
    let text = zeroize::Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    if lines.next() != Some(KEY_HEADER) {
        bail!("{} does not start with {KEY_HEADER}", path.display());
    }
    let mut first_seq = None;
    let mut secret = None;
    for line in lines {
        if let Some(n) = line.strip_prefix("first-seq ") {
            first_seq = n.trim().parse::<u64>().ok();
        } else if let Some(k) = line.strip_prefix("key ") {
            secret = hex::decode(k.trim())
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .map(zeroize::Zeroizing::new);
        }
    }
    match (first_seq, secret) {
        (Some(first_seq), Some(secret)) if first_seq >= 1 => Ok(ChainKey::new(&secret, first_seq)),
        _ => bail!(
            "{} needs a `first-seq N` line and a `key HEX` line of 64 hex digits",
            path.display()
        ),
    }
}

fn read_public_key(path: &Path) -> Result<[u8; 32]> {
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let der = signet_x509::pem::decode_all(&pem, "PUBLIC KEY")
        .ok()
        .and_then(|d| d.into_iter().next())
        .with_context(|| format!("{} holds no PUBLIC KEY", path.display()))?;
    ed25519_public_key(&der)
        .with_context(|| format!("{} is not an Ed25519 public key", path.display()))
}

/// Writes through a temporary file and a rename, fsynced, so a reader sees the old or the new
/// content, never half.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}
