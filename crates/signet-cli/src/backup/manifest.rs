//! The manifest: the archive's first entry, saying what it is and whether it holds a
//! database.

use std::time::UNIX_EPOCH;

use super::BackupError;
use super::archive::ArchivePath;

/// The archive's first entry: what it is and whether it holds a database.
///
/// ```text
/// signet-backup
/// created 1767225600
/// signet 0.1.0
/// database signet.db        (or: database none)
/// ```
pub(super) struct Manifest {
    /// Unix seconds.
    pub(super) created: u64,
    /// The version of the signet that wrote it.
    pub(super) signet: String,
    /// Where the database snapshot is, relative to the data directory.
    pub(super) database: Option<ArchivePath>,
}

const MANIFEST_HEAD: &str = "signet-backup";

impl Manifest {
    pub(super) fn render(&self) -> String {
        format!(
            "{MANIFEST_HEAD}\ncreated {}\nsignet {}\ndatabase {}\n",
            self.created,
            self.signet,
            self.database.as_ref().map_or("none", ArchivePath::as_str)
        )
    }

    /// Reads a manifest; lines it does not know are left for later versions.
    pub(super) fn parse(text: &str) -> Result<Manifest, BackupError> {
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

    pub(super) fn created_text(&self) -> String {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(self.created);
        format!(
            "{} by signet {}",
            signet_x509::time::rfc3339(at),
            self.signet
        )
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
}
