//! Exit events with the AD CS `EXITEVENT_*` names and values (certexit.h), plus Signet's own
//! `AuditCheckpoint`, whose bit (0x10000) lies far above every AD CS value.

use std::fmt;

/// One exit event. The discriminants are the AD CS mask bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Event {
    Issued = 0x1,
    Pending = 0x2,
    Denied = 0x4,
    Revoked = 0x8,
    RetrievePending = 0x10,
    CrlIssued = 0x20,
    Shutdown = 0x40,
    Startup = 0x80,
    Imported = 0x200,
    /// Signet only: a signed checkpoint of the audit chain head (see `crate::audit`), so an
    /// exit module can keep a witness outside the database. Not part of `all`: an exit
    /// receives it only when its `events` name it.
    AuditCheckpoint = 0x1_0000,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Event::Issued,
        Event::Pending,
        Event::Denied,
        Event::Revoked,
        Event::RetrievePending,
        Event::CrlIssued,
        Event::Shutdown,
        Event::Startup,
        Event::Imported,
        Event::AuditCheckpoint,
    ];

    pub fn bit(self) -> u32 {
        self as u32
    }

    /// The configuration and wire name (`Issued`, `RetrievePending`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Event::Issued => "Issued",
            Event::Pending => "Pending",
            Event::Denied => "Denied",
            Event::Revoked => "Revoked",
            Event::RetrievePending => "RetrievePending",
            Event::CrlIssued => "CrlIssued",
            Event::Shutdown => "Shutdown",
            Event::Startup => "Startup",
            Event::Imported => "Imported",
            Event::AuditCheckpoint => "AuditCheckpoint",
        }
    }

    pub fn from_name(s: &str) -> Option<Event> {
        Event::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s))
    }

    pub fn from_bit(bit: u32) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.bit() == bit)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of events an exit module asked for (`ICertExit::Initialize`'s `pEventMask`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventMask(pub u32);

/// An event name [`EventMask::from_names`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event {0:?} (known: all, {known})", known = event_names())]
pub struct UnknownEvent(pub String);

fn event_names() -> String {
    let known: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
    known.join(", ")
}

impl EventMask {
    pub const NONE: EventMask = EventMask(0);
    /// Every AD CS event (`events = ["all"]`, and the default). Signet's `AuditCheckpoint` is
    /// not in it: a module that never heard of it is not sent it.
    pub const ALL: EventMask = EventMask(0x2ff);

    pub fn contains(self, e: Event) -> bool {
        self.0 & e.bit() != 0
    }

    pub fn with(self, e: Event) -> EventMask {
        EventMask(self.0 | e.bit())
    }

    /// Builds a mask from event names; `"all"` means every event.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<EventMask, UnknownEvent> {
        let mut mask = EventMask::NONE;
        for n in names {
            let n = n.as_ref();
            if n.eq_ignore_ascii_case("all") {
                mask = EventMask::ALL;
                continue;
            }
            let e = Event::from_name(n).ok_or_else(|| UnknownEvent(n.to_string()))?;
            mask = mask.with(e);
        }
        Ok(mask)
    }

    pub fn events(self) -> impl Iterator<Item = Event> {
        Event::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_certexit_h() {
        assert_eq!(Event::Issued.bit(), 0x1);
        assert_eq!(Event::RetrievePending.bit(), 0x10);
        assert_eq!(Event::Startup.bit(), 0x80);
        assert_eq!(Event::Imported.bit(), 0x200);
        let ad_cs: u32 = Event::ALL
            .iter()
            .filter(|e| **e != Event::AuditCheckpoint)
            .map(|e| e.bit())
            .sum();
        assert_eq!(EventMask::ALL.0, ad_cs);
    }

    #[test]
    fn audit_checkpoint_is_signet_only() {
        let bit = Event::AuditCheckpoint.bit();
        assert_eq!(bit, 0x1_0000);
        // Above every AD CS EXITEVENT_* value, and outside `all`.
        assert!(bit > 0x3ff && EventMask::ALL.0 & bit == 0);
        assert_eq!(Event::from_bit(bit), Some(Event::AuditCheckpoint));
        let m = EventMask::from_names(&["all", "AuditCheckpoint"]).expect("names");
        assert!(m.contains(Event::AuditCheckpoint) && m.contains(Event::Issued));
        assert!(
            !EventMask::from_names(&["all"])
                .expect("all")
                .contains(Event::AuditCheckpoint)
        );
    }

    #[test]
    fn masks_from_names() {
        let m = EventMask::from_names(&["Issued", "denied"]).expect("names");
        assert!(m.contains(Event::Issued) && m.contains(Event::Denied));
        assert!(!m.contains(Event::Pending));
        assert!(EventMask::from_names(&["Bogus"]).is_err());
    }
}
