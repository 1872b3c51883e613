//! EST (RFC 7030): enrollment over HTTPS for devices, as an intermediary on the front-end
//! API: every request reaches the CA through `Enroll`.
#![forbid(unsafe_code)]
