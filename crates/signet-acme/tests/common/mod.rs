//! Test helpers shared by signet-acme's tests.
#![allow(dead_code)]

pub mod oracle;
