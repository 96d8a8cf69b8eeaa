//! Test helpers: [`TestServer`] starts Rhein in-process on free loopback ports (storage:
//! in-memory SQLite, or a fresh PostgreSQL database when `RHEIN_TEST_POSTGRES_URL` is set), and
//! [`TestClient`] speaks XMPP to it over real sockets, STARTTLS and SCRAM included.
//! [`ModuleHarness`] runs one module alone, over a real in-memory database and a router that
//! records what the module sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
pub mod dns;
mod harness;
pub mod pki;
pub mod scram;
mod server;

pub use client::{ClientBuilder, TestClient, Tls, UpgradeAnswer, insecure_connector};
pub use harness::ModuleHarness;
pub use rhein_module::{Event, Interest, Stage};
pub use server::{TestServer, TestServerBuilder, fresh_storage};

pub use rhein_proto::{Element, ns};
