//! Rhein integration tests: one binary, a module per feature, real sockets throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod essentials;
mod im;
mod sm;
mod stream;

use rhein_testkit::Element;

/// Predicate: an element with this name.
pub fn named(name: &'static str) -> impl Fn(&Element) -> bool {
    move |e| e.name() == name
}
