//! Streams with other servers: external components (XEP-0114) and, next, federation.

pub mod component;
mod link;
