//! `token-secret.key` (0600) in the data directory: the key the secrets of shared-secret
//! tokens derive from (`signet admin token create --shared-secret`, for CMP's
//! password-based MAC). Text: `signet-token-secret-key-v1` and `key HEX` (256 bits).
//! Created at the first start that lacks it. Losing it makes every shared-secret token
//! useless as a MAC secret (they still authenticate as bearer tokens); a copy with the
//! database lets anyone recompute those tokens, so it is kept, backed up and copied to
//! other nodes like the CA keys.

use std::path::Path;

use anyhow::{Context, Result, bail};
use signet_core::{Random, TokenSecretKey};
use signet_keys::SystemRandom;

pub const FILE: &str = "token-secret.key";
const HEADER: &str = "signet-token-secret-key-v1";

/// Reads the key, creating it when the data directory has none.
pub fn load_or_create(data: &Path) -> Result<TokenSecretKey> {
    let path = data.join(FILE);
    if !path.exists() {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|e| anyhow::anyhow!("random: {e}"))?;
        let text = format!("{HEADER}\nkey {}\n", hex::encode(key));
        crate::init::write_private(&path, text.as_bytes())?;
        key.iter_mut().for_each(|b| *b = 0);
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    );
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        bail!("{}: not a {HEADER} file", path.display());
    }
    let key = lines
        .next()
        .and_then(|l| l.strip_prefix("key "))
        .and_then(|h| hex::decode(h.trim()).ok())
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .with_context(|| format!("{}: no 256-bit `key HEX` line", path.display()))?;
    Ok(TokenSecretKey::new(key))
}
