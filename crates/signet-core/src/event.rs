//! Exit events with the AD CS `EXITEVENT_*` names and values (certexit.h).

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
}

impl Event {
    pub const ALL: [Event; 9] = [
        Event::Issued,
        Event::Pending,
        Event::Denied,
        Event::Revoked,
        Event::RetrievePending,
        Event::CrlIssued,
        Event::Shutdown,
        Event::Startup,
        Event::Imported,
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

impl EventMask {
    pub const NONE: EventMask = EventMask(0);
    pub const ALL: EventMask = EventMask(0x2ff);

    pub fn contains(self, e: Event) -> bool {
        self.0 & e.bit() != 0
    }

    pub fn with(self, e: Event) -> EventMask {
        EventMask(self.0 | e.bit())
    }

    /// Builds a mask from event names; `"all"` means every event.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<EventMask, String> {
        let mut mask = EventMask::NONE;
        for n in names {
            let n = n.as_ref();
            if n.eq_ignore_ascii_case("all") {
                mask = EventMask::ALL;
                continue;
            }
            let e = Event::from_name(n).ok_or_else(|| {
                let known: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
                format!("unknown event {n:?} (known: all, {})", known.join(", "))
            })?;
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
        let all: u32 = Event::ALL.iter().map(|e| e.bit()).sum();
        assert_eq!(EventMask::ALL.0, all);
    }

    #[test]
    fn masks_from_names() {
        let m = EventMask::from_names(&["Issued", "denied"]).expect("names");
        assert!(m.contains(Event::Issued) && m.contains(Event::Denied));
        assert!(!m.contains(Event::Pending));
        assert!(EventMask::from_names(&["Bogus"]).is_err());
    }
}
