//! The engine (placeholder while the contract settles).
pub struct Authority;
pub struct CaRuntime;
pub struct DeliveryReport;
