//! Integration-test support.
pub mod scripted;
pub mod testbed;
