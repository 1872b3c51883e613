//! Logging what a client sent without letting it write the log.
//!
//! A value from a request may hold a line break (a forged log line after it), a quote and
//! `key=value` text (forged fields), terminal escapes, or megabytes. [`Untrusted`] is the
//! one way such a value reaches `tracing`: it is shown in quotes, with quotes, backslashes
//! and every control character escaped (`\n`, `\u{1b}`, C1 controls, Unicode line and
//! paragraph separators, bidi overrides), and at most [`Untrusted::MAX_CHARS`] characters,
//! saying how much was cut.
//!
//! ```
//! use signet_server::untrusted::Untrusted;
//! let forged = "x\" roles=admin\n2026-01-01T00:00:00Z INFO admin token created";
//! assert_eq!(
//!     Untrusted(forged).to_string(),
//!     r#""x\" roles=admin\n2026-01-01T00:00:00Z INFO admin token created""#
//! );
//! ```

use std::fmt::{self, Write as _};

/// A value from a request, shown escaped and truncated: `tracing::warn!(value = %Untrusted(&s))`.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl Untrusted<'_> {
    /// Characters shown at most; the rest is counted, not shown.
    pub const MAX_CHARS: usize = 200;
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for (shown, (at, c)) in self.0.char_indices().enumerate() {
            if shown == Self::MAX_CHARS {
                return write!(f, "\"…(+{} bytes)", self.0.len() - at);
            }
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Control characters (C0, DEL, C1), and the format characters that move or reorder text
/// on a terminal or in a log viewer: line/paragraph separators and bidi controls.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_quotes() {
        assert_eq!(Untrusted("a\nb\r\tc").to_string(), r#""a\nb\r\tc""#);
        assert_eq!(Untrusted("\u{1b}[31m").to_string(), r#""\u{1b}[31m""#);
        assert_eq!(
            Untrusted("\u{85}\u{2028}\u{202e}").to_string(),
            r#""\u{85}\u{2028}\u{202e}""#
        );
        assert_eq!(Untrusted("back\\n").to_string(), r#""back\\n""#);
        assert_eq!(Untrusted("a\" b=c").to_string(), r#""a\" b=c""#);
        assert_eq!(Untrusted("plain é ✓").to_string(), "\"plain é ✓\"");
    }

    #[test]
    fn truncates_long_values() {
        let long = "x".repeat(10_000);
        let shown = Untrusted(&long).to_string();
        let kept = format!("\"{}\"", "x".repeat(Untrusted::MAX_CHARS));
        assert!(shown.starts_with(&kept), "{shown}");
        assert!(shown.ends_with(&format!("…(+{} bytes)", 10_000 - Untrusted::MAX_CHARS)));
        assert!(shown.len() < Untrusted::MAX_CHARS + 30);
        let exact = "y".repeat(Untrusted::MAX_CHARS);
        assert_eq!(Untrusted(&exact).to_string(), format!("\"{exact}\""));
    }
}
