//! Synthetic demo data (in progress).
