//! The archive format against what can go wrong with a file: wrong passphrases, flipped,
//! cut, reordered and appended bytes, hostile paths.

use super::*;

const PASS: &[u8] = b"correct horse battery staple";
const ROUNDS: u32 = 1_000;

/// An archive with a directory, a small file and a file spanning several chunks.
fn sample() -> (Vec<u8>, Vec<u8>) {
    let big: Vec<u8> = (0..(2 * CHUNK as usize + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    let mut w = ArchiveWriter::new(Vec::new(), PASS, ROUNDS, "signet-backup\n").expect("new");
    w.add_dir(&ArchivePath::new("ca").expect("path"), 0o700)
        .expect("dir");
    w.add_file(
        &ArchivePath::new("ca/demo/key.pem").expect("path"),
        0o600,
        5,
        &mut &b"hello"[..],
    )
    .expect("file");
    w.add_file(
        &ArchivePath::new("signet.db").expect("path"),
        0o600,
        big.len() as u64,
        &mut &big[..],
    )
    .expect("big file");
    let (bytes, len) = w.finish().expect("finish");
    assert_eq!(len, bytes.len() as u64);
    (bytes, big)
}

/// An archive's manifest and entries, each with its file's contents.
type Contents = (String, Vec<(Entry, Vec<u8>)>);

/// Every entry, with file contents.
fn read_all(bytes: &[u8], pass: &[u8]) -> Result<Contents, ArchiveError> {
    let (mut r, manifest) = ArchiveReader::open(bytes, pass)?;
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        let mut content = Vec::new();
        if matches!(e, Entry::File { .. }) {
            r.copy_file(&mut content)?;
        }
        out.push((e, content));
    }
    Ok((manifest, out))
}

#[test]
fn round_trip_over_several_chunks() {
    let (bytes, big) = sample();
    let (manifest, entries) = read_all(&bytes, PASS).expect("reads back");
    assert_eq!(manifest, "signet-backup\n");
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[0].0,
        Entry::Dir {
            path: ArchivePath::new("ca").expect("path"),
            mode: 0o700
        }
    );
    assert_eq!(entries[1].1, b"hello");
    assert_eq!(entries[2].1, big);
    // The plaintext is nowhere in the file.
    assert!(!bytes.windows(5).any(|w| w == b"hello"));
}

#[test]
fn a_wrong_passphrase_is_told_apart_from_damage() {
    let (bytes, _) = sample();
    assert!(matches!(
        read_all(&bytes, b"Tr0ub4dor&3"),
        Err(ArchiveError::WrongPassphrase)
    ));
    // A changed header byte (here the salt) reads as a wrong passphrase too.
    let mut salted = bytes.clone();
    salted[20] ^= 1;
    assert!(matches!(
        read_all(&salted, PASS),
        Err(ArchiveError::WrongPassphrase)
    ));
}

#[test]
fn every_flipped_body_byte_is_refused() {
    let (bytes, _) = sample();
    // A sample of positions across the chunks (every byte would take a while).
    for at in (HEADER_LEN..bytes.len())
        .step_by(40_009)
        .chain([bytes.len() - 1])
    {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        let e = read_all(&damaged, PASS).expect_err("a flipped byte is refused");
        assert!(
            matches!(e, ArchiveError::Tampered { .. } | ArchiveError::Truncated),
            "byte {at}: {e}"
        );
    }
}

#[test]
fn truncation_reordering_and_appending_are_refused() {
    let (bytes, _) = sample();
    let chunk_len = 5 + CHUNK as usize + TAG_LEN;
    // Cut at a chunk boundary: no last chunk.
    let cut = &bytes[..HEADER_LEN + chunk_len];
    assert!(matches!(read_all(cut, PASS), Err(ArchiveError::Truncated)));
    // Cut inside a chunk.
    assert!(matches!(
        read_all(&bytes[..bytes.len() - 3], PASS),
        Err(ArchiveError::Truncated)
    ));
    // The first two chunks swapped.
    let mut swapped = bytes[..HEADER_LEN].to_vec();
    swapped.extend_from_slice(&bytes[HEADER_LEN + chunk_len..HEADER_LEN + 2 * chunk_len]);
    swapped.extend_from_slice(&bytes[HEADER_LEN..HEADER_LEN + chunk_len]);
    swapped.extend_from_slice(&bytes[HEADER_LEN + 2 * chunk_len..]);
    assert!(matches!(
        read_all(&swapped, PASS),
        Err(ArchiveError::Tampered { chunk: 0 })
    ));
    // A byte appended.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        read_all(&longer, PASS),
        Err(ArchiveError::TrailingData)
    ));
    // Not an archive at all, and a future version.
    assert!(matches!(
        read_all(b"SQLite format 3\0", PASS),
        Err(ArchiveError::NotAnArchive)
    ));
    let mut future = bytes.clone();
    future[8] = 2;
    assert!(matches!(
        read_all(&future, PASS),
        Err(ArchiveError::UnsupportedVersion(2))
    ));
}

#[test]
fn paths_stay_inside_the_restore_directory() {
    for bad in [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "./a",
        "a\\b",
        "a/.",
    ] {
        assert!(ArchivePath::new(bad).is_err(), "{bad:?} must be refused");
    }
    let root = std::path::Path::new("/restore");
    let p = ArchivePath::new("ca/demo/key.pem").expect("plain path");
    assert_eq!(p.under(root), root.join("ca").join("demo").join("key.pem"));
    assert_eq!(
        ArchivePath::relative(root, &root.join("ca/demo")),
        Some(ArchivePath::new("ca/demo").expect("path"))
    );
    assert_eq!(
        ArchivePath::relative(root, std::path::Path::new("/etc")),
        None
    );
}

#[test]
fn an_end_marker_that_fills_a_chunk_is_followed_by_an_empty_last_chunk() {
    // 'M' len(4) | 'F' len(2) "log" mode(4) size(8) bytes | 'E' = exactly one chunk.
    let size = CHUNK as usize - (1 + 4) - (1 + 2 + 3 + 4 + 8) - 1;
    let content = vec![7u8; size];
    let mut w = ArchiveWriter::new(Vec::new(), PASS, ROUNDS, "").expect("new");
    w.add_file(
        &ArchivePath::new("log").expect("path"),
        0o644,
        size as u64,
        &mut &content[..],
    )
    .expect("file");
    let (bytes, _) = w.finish().expect("finish");
    assert_eq!(bytes.len(), HEADER_LEN + 2 * (5 + TAG_LEN) + CHUNK as usize);
    let (_, entries) = read_all(&bytes, PASS).expect("reads back");
    assert_eq!(entries[0].1, content);
}

#[test]
fn a_file_that_shrinks_while_read_is_refused() {
    let mut w = ArchiveWriter::new(Vec::new(), PASS, ROUNDS, "").expect("new");
    let e = w
        .add_file(
            &ArchivePath::new("log").expect("path"),
            0o600,
            10,
            &mut &b"short"[..],
        )
        .expect_err("five bytes for ten");
    assert!(matches!(e, ArchiveError::FileChanged { expected: 10, .. }));
}
