//! The case rules (in progress).
