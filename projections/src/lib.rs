//! Pure read models folded from the log.

pub mod contact;
pub mod time;
