//! SCEP (RFC 8894): the enrollment protocol of routers, phones and MDM fleets (AD CS NDES),
//! as an intermediary on the front-end API: every request reaches the CA through `Enroll`.
#![forbid(unsafe_code)]
