//! The stream engine shared by every XMPP stream kind: connections (plain TCP, STARTTLS
//! upgrade, direct TLS), incremental XML framing with size and rate limits, stream headers and
//! stream errors. Knows nothing of SASL flows, sessions or routing; c2s (and later s2s and
//! components) drive it.

mod conn;
mod connections;
mod framer;
mod io;
pub mod tls;

pub use conn::Conn;
pub use connections::{Connections, Refused, Slot};
pub use framer::{Exceeded, Frame, FrameError, FrameLimits, Framer, parse_document, parse_element};
pub use io::{Limits, ReadError, StreamHeader, StreamIo};
