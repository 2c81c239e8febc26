//! Benchmarks of the event log (in progress).
fn main() {}
