//! Pure read models folded from the log.

pub mod contact;
pub mod facts;
pub mod figures;
pub mod time;
