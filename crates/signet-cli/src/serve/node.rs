//! This process's node id (see `signet_core::cluster`): the host name, the process id and
//! 32 random bits, e.g. `ca1.example.net-4242-9f3c01d7`, so two processes on one host, or a
//! process restarted with the same pid, never share one.

use anyhow::{Context, Result};
use signet_core::{NodeId, Random};
use signet_keys::SystemRandom;

/// The longest host-name part kept (node ids are at most `signet_core::cluster::MAX_NODE_ID`).
const MAX_HOST: usize = 64;

/// A fresh node id; `fallback` (the `[server] host`) names the host when the system's host
/// name cannot be read.
pub fn generate(fallback: &str) -> Result<NodeId> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| fallback.to_string());
    let mut bits = [0u8; 4];
    SystemRandom::new()
        .fill(&mut bits)
        .context("drawing the node id's random part")?;
    id_of(&host, std::process::id(), u32::from_be_bytes(bits))
}

/// `host-pid-random`, with characters a node id may not hold in the host name replaced.
fn id_of(host: &str, pid: u32, random: u32) -> Result<NodeId> {
    let host: String = host
        .chars()
        .take(MAX_HOST)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    NodeId::new(&format!("{host}-{pid}-{random:08x}")).context("making the node id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_name_the_host_the_process_and_a_random_part() {
        assert_eq!(
            id_of("ca1.example.net", 4242, 0x9f3c_01d7)
                .expect("valid")
                .as_str(),
            "ca1.example.net-4242-9f3c01d7"
        );
        let odd = id_of(&format!("a b/é{}", "x".repeat(100)), 1, 0).expect("valid");
        assert!(odd.as_str().starts_with("a_b__xx"), "{odd}");
        assert!(odd.as_str().len() <= signet_core::cluster::MAX_NODE_ID);
        assert_ne!(
            generate("localhost").expect("valid"),
            generate("localhost").expect("valid")
        );
    }
}
