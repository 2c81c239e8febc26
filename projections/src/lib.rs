//! Pure read models folded from the log.

pub mod time;
