//! Tokens and roles (in progress).
