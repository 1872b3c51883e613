//! The operating system's random generator behind [`signet_core::Random`].

use aws_lc_rs::rand::SecureRandom;
use signet_core::{Random, SignerError};

/// The system's cryptographically secure random generator (aws-lc-rs `SystemRandom`).
#[derive(Clone, Debug, Default)]
pub struct SystemRandom(aws_lc_rs::rand::SystemRandom);

impl SystemRandom {
    pub fn new() -> SystemRandom {
        SystemRandom(aws_lc_rs::rand::SystemRandom::new())
    }
}

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), SignerError> {
        self.0
            .fill(buf)
            .map_err(|_| SignerError::Failed("the system random generator failed".into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fills_with_distinct_bytes() {
        let rng = SystemRandom::new();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        rng.fill(&mut a).unwrap();
        rng.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
