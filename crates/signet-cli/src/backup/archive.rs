//! The backup archive: one file, encrypted and authenticated under a passphrase, holding a
//! manifest and a list of directories and files (relative path, mode, bytes).
//!
//! ```text
//! header (73 bytes; every byte is authenticated: it is the AAD of every chunk)
//!    0  magic      8  "SIGNETBK"
//!    8  version    1  1
//!    9  kdf        1  1 = PBKDF2-HMAC-SHA256
//!   10  rounds     4  iteration count, big-endian
//!   14  salt      16  random
//!   30  nonce      7  random nonce prefix
//!   37  chunk      4  plaintext bytes per chunk, big-endian (1 MiB; at most 16 MiB)
//!   41  check     32  HMAC-SHA256(check key, bytes 0..41)
//! chunks, in order, until the one marked last (nothing may follow it)
//!    length    4  plaintext bytes in this chunk, big-endian: `chunk`, except in the last
//!    last      1  1 on the last chunk, 0 before
//!    sealed    length + 16  AES-256-GCM, nonce = prefix ‖ index (u32, big-endian) ‖ last
//! ```
//!
//! PBKDF2 derives 64 bytes from the passphrase: the AES-256 key, then the check key. The
//! check value tells a wrong passphrase (or a changed header) from a damaged body before
//! anything is decrypted. Chunks are sealed as in the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway, Vizár, "Online authenticated-encryption and its nonce-reuse misuse-resistance",
//! 2015): the index and the last flag in the nonce refuse reordered, dropped, repeated and
//! truncated chunks, so an archive of any size is written and read in bounded memory.
//!
//! The plaintext stream (big-endian integers; paths are UTF-8, relative, `/`-separated):
//!
//! ```text
//!   'M' length:u32 text                       the manifest, first and once
//!   'D' length:u16 path mode:u32              a directory
//!   'F' length:u16 path mode:u32 size:u64 bytes[size]   a file
//!   'E'                                       the end; nothing after it
//! ```

use std::io::{Read, Write};
use std::num::NonZeroU32;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hmac, pbkdf2};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"SIGNETBK";
const VERSION: u8 = 1;
const KDF_PBKDF2_SHA256: u8 = 1;
const HEADER_LEN: usize = 73;
const CHECK_AT: usize = 41;
const SALT_LEN: usize = 16;
const PREFIX_LEN: usize = 7;
const TAG_LEN: usize = 16;
/// Plaintext per chunk when writing.
const CHUNK: u32 = 1 << 20;
/// The largest chunk a reader accepts, so a hostile header cannot make it allocate more.
const MAX_CHUNK: u32 = 16 << 20;
/// The largest iteration count a reader accepts, so a hostile header cannot make it spin for
/// minutes (the same bound as encrypted PKCS#8 keys).
const MAX_ITERATIONS: u32 = 10_000_000;
/// The smallest iteration count a reader accepts: anything below was not written by Signet.
const MIN_ITERATIONS: u32 = 1_000;
const MAX_MANIFEST: u32 = 64 * 1024;
const MAX_PATH: usize = 4096;

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a Signet backup (it does not start with SIGNETBK)")]
    NotAnArchive,
    #[error("backup format version {0}: this signet reads version {VERSION}")]
    UnsupportedVersion(u8),
    #[error("the backup's header is damaged: {0}")]
    BadHeader(&'static str),
    #[error("the passphrase does not open this backup (or its header was altered)")]
    WrongPassphrase,
    #[error("the backup was altered or damaged: chunk {chunk} does not authenticate")]
    Tampered { chunk: u32 },
    #[error("the backup is cut short: it ends before its last chunk")]
    Truncated,
    #[error("the backup has bytes after its last chunk")]
    TrailingData,
    #[error("the backup's contents are malformed: {0}")]
    Malformed(&'static str),
    #[error("the path {path:?} in the backup is refused: {why}")]
    BadPath { path: String, why: &'static str },
    #[error(
        "{path}: the file changed size while it was archived ({expected} bytes expected); try again"
    )]
    FileChanged { path: String, expected: u64 },
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("the backup is too large for one archive (over 4 billion chunks)")]
    TooLarge,
    #[error("{0} failed")]
    Crypto(&'static str),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A path inside an archive: relative, `/`-separated UTF-8, with no empty, `.` or `..`
/// component, so that joining it to the restore directory can never leave that directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArchivePath(String);

impl ArchivePath {
    /// Checks a path read from an archive or made from a relative file system path.
    pub fn new(path: &str) -> Result<ArchivePath, ArchiveError> {
        let refuse = |why| ArchiveError::BadPath {
            path: path.chars().take(200).collect(),
            why,
        };
        if path.is_empty() || path.len() > MAX_PATH {
            return Err(refuse("empty or too long"));
        }
        if path.contains(['\\', '\0']) {
            return Err(refuse("a backslash or NUL"));
        }
        for part in path.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(refuse("not a plain relative path"));
            }
        }
        Ok(ArchivePath(path.to_owned()))
    }

    /// The path of `file` relative to `root`, which must contain it.
    pub fn relative(root: &std::path::Path, file: &std::path::Path) -> Option<ArchivePath> {
        let rel = file.strip_prefix(root).ok()?;
        let parts: Option<Vec<&str>> = rel
            .components()
            .map(|c| match c {
                std::path::Component::Normal(p) => p.to_str(),
                _ => None,
            })
            .collect();
        ArchivePath::new(&parts?.join("/")).ok()
    }

    /// Where this path lands under `root`.
    pub fn under(&self, root: &std::path::Path) -> std::path::PathBuf {
        self.0.split('/').fold(root.to_path_buf(), |p, c| p.join(c))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ArchivePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of an archive, as [`ArchiveReader::next_entry`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: ArchivePath,
        mode: u32,
    },
    /// A file; its bytes follow, read with [`ArchiveReader::copy_file`].
    File {
        path: ArchivePath,
        mode: u32,
        size: u64,
    },
}

/// The keys and nonce state shared by writing and reading.
struct Cipher {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    chunk: u32,
    /// The next chunk's index.
    index: u32,
}

impl Cipher {
    /// The nonce of chunk `index`: prefix ‖ index ‖ last.
    fn nonce(&self, last: bool) -> Nonce {
        let mut n = [0u8; NONCE_LEN];
        n[..PREFIX_LEN].copy_from_slice(&self.prefix);
        n[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&self.index.to_be_bytes());
        n[NONCE_LEN - 1] = u8::from(last);
        Nonce::assume_unique_for_key(n)
    }
}

/// Derives the AES key and the check key from the passphrase.
fn derive(
    passphrase: &[u8],
    salt: &[u8],
    iterations: NonZeroU32,
) -> Result<(LessSafeKey, hmac::Key), ArchiveError> {
    let mut okm = Zeroizing::new([0u8; 64]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase,
        okm.as_mut(),
    );
    let key = UnboundKey::new(&AES_256_GCM, &okm[..32])
        .map_err(|_| ArchiveError::Crypto("setting up AES-256-GCM"))?;
    Ok((
        LessSafeKey::new(key),
        hmac::Key::new(hmac::HMAC_SHA256, &okm[32..]),
    ))
}

/// Writes an archive: the header at once, then entries, sealed a chunk at a time.
pub struct ArchiveWriter<W: Write> {
    out: W,
    cipher: Cipher,
    /// Plaintext not sealed yet (less than one chunk).
    pending: Zeroizing<Vec<u8>>,
    /// Bytes written to `out` so far.
    written: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive under `passphrase` with `iterations` PBKDF2 rounds, beginning with
    /// the manifest.
    pub fn new(
        mut out: W,
        passphrase: &[u8],
        iterations: u32,
        manifest: &str,
    ) -> Result<ArchiveWriter<W>, ArchiveError> {
        if passphrase.is_empty() {
            return Err(ArchiveError::EmptyPassphrase);
        }
        let rounds = NonZeroU32::new(iterations)
            .filter(|n| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n.get()))
            .ok_or(ArchiveError::BadHeader("iteration count out of range"))?;
        let mut random = [0u8; SALT_LEN + PREFIX_LEN];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| ArchiveError::Crypto("random"))?;
        let (salt, prefix) = random.split_at(SALT_LEN);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8] = VERSION;
        header[9] = KDF_PBKDF2_SHA256;
        header[10..14].copy_from_slice(&iterations.to_be_bytes());
        header[14..30].copy_from_slice(salt);
        header[30..37].copy_from_slice(prefix);
        header[37..41].copy_from_slice(&CHUNK.to_be_bytes());
        let (key, check) = derive(passphrase, salt, rounds)?;
        let tag = hmac::sign(&check, &header[..CHECK_AT]);
        header[CHECK_AT..].copy_from_slice(tag.as_ref());
        out.write_all(&header)?;
        let mut prefix_bytes = [0u8; PREFIX_LEN];
        prefix_bytes.copy_from_slice(prefix);
        let mut writer = ArchiveWriter {
            out,
            cipher: Cipher {
                key,
                header,
                prefix: prefix_bytes,
                chunk: CHUNK,
                index: 0,
            },
            pending: Zeroizing::new(Vec::with_capacity(CHUNK as usize + TAG_LEN)),
            written: HEADER_LEN as u64,
        };
        let text = manifest.as_bytes();
        let len = u32::try_from(text.len())
            .ok()
            .filter(|n| *n <= MAX_MANIFEST)
            .ok_or(ArchiveError::Malformed("the manifest is too long"))?;
        writer.put(b"M")?;
        writer.put(&len.to_be_bytes())?;
        writer.put(text)?;
        Ok(writer)
    }

    /// Adds a directory.
    pub fn add_dir(&mut self, path: &ArchivePath, mode: u32) -> Result<(), ArchiveError> {
        self.entry_head(b'D', path, mode)
    }

    /// Adds a file of `size` bytes read from `content`, which must yield exactly that many.
    pub fn add_file(
        &mut self,
        path: &ArchivePath,
        mode: u32,
        size: u64,
        content: &mut impl Read,
    ) -> Result<(), ArchiveError> {
        self.entry_head(b'F', path, mode)?;
        self.put(&size.to_be_bytes())?;
        let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = content.read(&mut buf[..want])?;
            if n == 0 {
                return Err(ArchiveError::FileChanged {
                    path: path.to_string(),
                    expected: size,
                });
            }
            self.put(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Writes the end marker and the last chunk; returns the output and its length.
    pub fn finish(mut self) -> Result<(W, u64), ArchiveError> {
        self.put(b"E")?;
        self.seal(true)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }

    fn entry_head(&mut self, kind: u8, path: &ArchivePath, mode: u32) -> Result<(), ArchiveError> {
        let bytes = path.as_str().as_bytes();
        // `ArchivePath::new` caps the length well below u16::MAX.
        let len = u16::try_from(bytes.len()).map_err(|_| ArchiveError::BadPath {
            path: path.to_string(),
            why: "too long",
        })?;
        self.put(&[kind])?;
        self.put(&len.to_be_bytes())?;
        self.put(bytes)?;
        self.put(&mode.to_be_bytes())
    }

    /// Appends plaintext, sealing every full chunk.
    fn put(&mut self, mut bytes: &[u8]) -> Result<(), ArchiveError> {
        let chunk = self.cipher.chunk as usize;
        while !bytes.is_empty() {
            let room = chunk - self.pending.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.pending.extend_from_slice(now);
            bytes = rest;
            if self.pending.len() == chunk {
                self.seal(false)?;
            }
        }
        Ok(())
    }

    /// Seals the pending plaintext as the next chunk and writes it.
    fn seal(&mut self, last: bool) -> Result<(), ArchiveError> {
        let len = u32::try_from(self.pending.len()).map_err(|_| ArchiveError::TooLarge)?;
        let nonce = self.cipher.nonce(last);
        self.cipher
            .key
            .seal_in_place_append_tag(nonce, Aad::from(&self.cipher.header), &mut *self.pending)
            .map_err(|_| ArchiveError::Crypto("AES-256-GCM sealing"))?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&[u8::from(last)])?;
        self.out.write_all(&self.pending)?;
        self.written += 5 + self.pending.len() as u64;
        self.pending.clear();
        self.cipher.index = self
            .cipher
            .index
            .checked_add(1)
            .ok_or(ArchiveError::TooLarge)?;
        Ok(())
    }
}

/// Reads an archive, authenticating each chunk before any of its bytes are returned.
///
/// An entry is only as trustworthy as the chunks read so far: a caller that must not act on
/// a damaged archive writes what it reads somewhere provisional, and keeps it only when
/// [`ArchiveReader::next_entry`] has returned `None` (the end marker, in the last chunk,
/// with nothing after it).
pub struct ArchiveReader<R: Read> {
    input: R,
    cipher: Cipher,
    /// The current chunk's plaintext and how much of it was consumed.
    plain: Zeroizing<Vec<u8>>,
    at: usize,
    /// The current chunk was the last one.
    last: bool,
    /// A file entry's bytes still to be read.
    unread: u64,
    ended: bool,
}

impl<R: Read> ArchiveReader<R> {
    /// Checks the header and the passphrase; returns the reader and the manifest.
    pub fn open(
        mut input: R,
        passphrase: &[u8],
    ) -> Result<(ArchiveReader<R>, String), ArchiveError> {
        let mut header = [0u8; HEADER_LEN];
        read_exact_or(&mut input, &mut header, ArchiveError::NotAnArchive)?;
        // header: magic(8) version(1) kdf(1) rounds(4) salt(16) prefix(7) chunk(4) check(32)
        let (magic, rest) = header.split_at(8);
        if magic != MAGIC {
            return Err(ArchiveError::NotAnArchive);
        }
        if rest[0] != VERSION {
            return Err(ArchiveError::UnsupportedVersion(rest[0]));
        }
        if rest[1] != KDF_PBKDF2_SHA256 {
            return Err(ArchiveError::BadHeader("unknown key derivation"));
        }
        let rounds = u32::from_be_bytes(be4(&header[10..14]));
        let rounds = NonZeroU32::new(rounds)
            .filter(|n| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n.get()))
            .ok_or(ArchiveError::BadHeader("iteration count out of range"))?;
        let chunk = u32::from_be_bytes(be4(&header[37..41]));
        if chunk == 0 || chunk > MAX_CHUNK {
            return Err(ArchiveError::BadHeader("chunk size out of range"));
        }
        let (key, check) = derive(passphrase, &header[14..30], rounds)?;
        hmac::verify(&check, &header[..CHECK_AT], &header[CHECK_AT..])
            .map_err(|_| ArchiveError::WrongPassphrase)?;
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[30..37]);
        let mut reader = ArchiveReader {
            input,
            cipher: Cipher {
                key,
                header,
                prefix,
                chunk,
                index: 0,
            },
            plain: Zeroizing::new(Vec::new()),
            at: 0,
            last: false,
            unread: 0,
            ended: false,
        };
        let mut kind = [0u8; 1];
        reader.take(&mut kind)?;
        if kind != *b"M" {
            return Err(ArchiveError::Malformed("no manifest first"));
        }
        let mut len = [0u8; 4];
        reader.take(&mut len)?;
        let len = u32::from_be_bytes(len);
        if len > MAX_MANIFEST {
            return Err(ArchiveError::Malformed("the manifest is too long"));
        }
        let mut text = vec![0u8; len as usize];
        reader.take(&mut text)?;
        let text =
            String::from_utf8(text).map_err(|_| ArchiveError::Malformed("manifest not UTF-8"))?;
        Ok((reader, text))
    }

    /// The next entry, or `None` after the end marker once the archive is known to be
    /// whole. A file's bytes not read with [`ArchiveReader::copy_file`] are skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ArchiveError> {
        if self.ended {
            return Ok(None);
        }
        if self.unread > 0 {
            self.copy_file(&mut std::io::sink())?;
        }
        let mut kind = [0u8; 1];
        self.take(&mut kind)?;
        match kind[0] {
            b'E' => {
                self.finish()?;
                Ok(None)
            }
            b'D' => {
                let (path, mode) = self.entry_head()?;
                Ok(Some(Entry::Dir { path, mode }))
            }
            b'F' => {
                let (path, mode) = self.entry_head()?;
                let mut size = [0u8; 8];
                self.take(&mut size)?;
                let size = u64::from_be_bytes(size);
                self.unread = size;
                Ok(Some(Entry::File { path, mode, size }))
            }
            _ => Err(ArchiveError::Malformed("unknown entry kind")),
        }
    }

    /// Copies the current file entry's bytes to `out`.
    pub fn copy_file(&mut self, out: &mut impl Write) -> Result<(), ArchiveError> {
        while self.unread > 0 {
            if self.at == self.plain.len() {
                self.next_chunk()?;
            }
            let avail = (self.plain.len() - self.at) as u64;
            let n = usize::try_from(avail.min(self.unread)).unwrap_or(0);
            out.write_all(&self.plain[self.at..self.at + n])?;
            self.at += n;
            self.unread -= n as u64;
        }
        Ok(())
    }

    fn entry_head(&mut self) -> Result<(ArchivePath, u32), ArchiveError> {
        let mut len = [0u8; 2];
        self.take(&mut len)?;
        let len = usize::from(u16::from_be_bytes(len));
        if len > MAX_PATH {
            return Err(ArchiveError::Malformed("a path is too long"));
        }
        let mut path = vec![0u8; len];
        self.take(&mut path)?;
        let path =
            String::from_utf8(path).map_err(|_| ArchiveError::Malformed("path not UTF-8"))?;
        let path = ArchivePath::new(&path)?;
        let mut mode = [0u8; 4];
        self.take(&mut mode)?;
        Ok((path, u32::from_be_bytes(mode)))
    }

    /// After the end marker: it must be in the last chunk, with no plaintext after it and no
    /// byte after that chunk.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        // A marker that filled a chunk to the brim is followed by an empty last chunk.
        if !self.last && self.at == self.plain.len() {
            self.next_chunk()?;
        }
        if !self.last || self.at != self.plain.len() {
            return Err(ArchiveError::Malformed("data after the end marker"));
        }
        let mut probe = [0u8; 1];
        if read_some(&mut self.input, &mut probe)? != 0 {
            return Err(ArchiveError::TrailingData);
        }
        self.ended = true;
        Ok(())
    }

    /// Fills `buf` from the plaintext stream, opening chunks as needed.
    fn take(&mut self, buf: &mut [u8]) -> Result<(), ArchiveError> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.at == self.plain.len() {
                self.next_chunk()?;
            }
            let n = (buf.len() - filled).min(self.plain.len() - self.at);
            buf[filled..filled + n].copy_from_slice(&self.plain[self.at..self.at + n]);
            self.at += n;
            filled += n;
        }
        Ok(())
    }

    /// Reads and opens the next chunk.
    fn next_chunk(&mut self) -> Result<(), ArchiveError> {
        if self.last {
            return Err(ArchiveError::Malformed(
                "the contents end without an end marker",
            ));
        }
        // chunk: length(4) last(1) sealed(length + 16)
        let mut head = [0u8; 5];
        read_exact_or(&mut self.input, &mut head, ArchiveError::Truncated)?;
        let len = u32::from_be_bytes(be4(&head[..4]));
        let last = match head[4] {
            0 => false,
            1 => true,
            _ => {
                return Err(ArchiveError::Tampered {
                    chunk: self.cipher.index,
                });
            }
        };
        if len > self.cipher.chunk || (!last && len != self.cipher.chunk) {
            return Err(ArchiveError::Tampered {
                chunk: self.cipher.index,
            });
        }
        self.plain.clear();
        self.plain.resize(len as usize + TAG_LEN, 0);
        read_exact_or(&mut self.input, &mut self.plain, ArchiveError::Truncated)?;
        let nonce = self.cipher.nonce(last);
        let opened = self
            .cipher
            .key
            .open_in_place(nonce, Aad::from(&self.cipher.header), &mut self.plain)
            .map_err(|_| ArchiveError::Tampered {
                chunk: self.cipher.index,
            })?
            .len();
        self.plain.truncate(opened);
        self.at = 0;
        self.last = last;
        self.cipher.index = self
            .cipher
            .index
            .checked_add(1)
            .ok_or(ArchiveError::TooLarge)?;
        Ok(())
    }
}

/// Four bytes of a slice known to hold four.
fn be4(b: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(&b[..4]);
    out
}

/// `read_exact`, with an end of file reported as `eof`.
fn read_exact_or(
    input: &mut impl Read,
    buf: &mut [u8],
    eof: ArchiveError,
) -> Result<(), ArchiveError> {
    match input.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(eof),
        Err(e) => Err(e.into()),
    }
}

/// One `read`, retried when interrupted.
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, ArchiveError> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests;
