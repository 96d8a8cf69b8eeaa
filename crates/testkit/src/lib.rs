//! Test helpers: [`TestServer`] starts Rhein in-process on free loopback ports (storage:
//! in-memory SQLite, or a fresh PostgreSQL database when `RHEIN_TEST_POSTGRES_URL` is set), and
//! [`TestClient`] speaks XMPP to it over real sockets, STARTTLS and SCRAM included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
pub mod dns;
pub mod pki;
pub mod scram;
mod server;

pub use client::{ClientBuilder, TestClient, Tls, insecure_connector};
pub use server::{TestServer, TestServerBuilder, fresh_storage};

pub use rhein_proto::{Element, ns};
