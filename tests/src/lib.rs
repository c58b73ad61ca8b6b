//! Integration-test support.
pub mod scripted;
