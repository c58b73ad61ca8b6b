//! C ABI over smtp-core.
