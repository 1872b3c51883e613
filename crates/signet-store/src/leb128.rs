//! Unsigned LEB128 lengths and offsets, as the compact column encodings use them
//! ([`crate::extensions`], [`crate::delta`]): seven bits a byte, least significant first,
//! the high bit set on every byte but the last; minimal, and at most 2^32 - 1.

/// Why a LEB128 number does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leb128Error {
    /// The input ends inside the number.
    Truncated,
    /// Not minimal (a longer spelling of a shorter number), or 2^32 or more.
    Invalid,
}

/// Appends `n`.
pub(crate) fn push(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
}

/// Splits a number off the front of `input`.
pub(crate) fn take(input: &[u8]) -> Result<(u64, &[u8]), Leb128Error> {
    let mut n: u64 = 0;
    let mut used = 0;
    loop {
        let &b = input.get(used).ok_or(Leb128Error::Truncated)?;
        used += 1;
        n |= u64::from(b & 0x7f) << (7 * (used - 1));
        if b & 0x80 == 0 {
            // A final 0x00 after the first byte would be a longer spelling of a shorter
            // number.
            if b == 0 && used > 1 {
                return Err(Leb128Error::Invalid);
            }
            break;
        }
        if used == 5 {
            return Err(Leb128Error::Invalid);
        }
    }
    if n > u64::from(u32::MAX) {
        return Err(Leb128Error::Invalid);
    }
    Ok((n, &input[used..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_bad_spellings_are_refused() {
        for n in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX)] {
            let mut out = Vec::new();
            push(&mut out, n);
            out.push(0xaa);
            assert_eq!(take(&out), Ok((n, &[0xaa][..])), "{n}");
        }
        assert_eq!(take(&[]), Err(Leb128Error::Truncated));
        assert_eq!(take(&[0x80]), Err(Leb128Error::Truncated));
        assert_eq!(take(&[0x82, 0x00]), Err(Leb128Error::Invalid));
        assert_eq!(
            take(&[0x80, 0x80, 0x80, 0x80, 0x10]),
            Err(Leb128Error::Invalid)
        );
        assert_eq!(
            take(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(Leb128Error::Invalid)
        );
    }
}
