//! Integration tests live in `it/`, compiled into one binary to keep link time down.
