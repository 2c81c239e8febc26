//! The frontdoor service binary.
fn main() {}
