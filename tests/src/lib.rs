//! Integration-test support.
pub mod scripted;
pub mod sink;
pub mod support;
pub mod testbed;
