//! Pure read models folded from the log.
