//! The publish-subscribe engine (XEP-0060 semantics, no XMPP inside; Prosody's
//! util/pubsub.lua is the model): what a node's configuration is, what each affiliation may
//! do, and how a node's access and publish models admit everyone else. The XMPP services
//! (PEP, MIX and the generic service at `pubsub.HOST`) are adapters: they parse requests, call
//! a [`Service`]'s operations over their [`Store`], send the [`Notice`]s the operations return
//! to whoever may receive them, and turn [`Error`]s into stanza errors.
//!
//! Must not depend on XMPP crates, storage or I/O: what it needs to know of an actor (its
//! affiliation, whether it sees the owner's presence, its roster groups) is handed in.

mod access;
mod config;
mod service;
mod subscription;

pub use access::{Action, Affiliation, Denied, Relation, may};
pub use config::{AccessModel, DEFAULT_MAX_ITEMS, NodeConfig, NotificationType, PublishModel, SendLast};
pub use service::{Actor, Error, Event, Failure, Item, Limits, Notice, Service, Store};
pub use subscription::{SubOptions, SubState, Subscription};
