//! What goes over the admin socket: one JSON [`Request`] per line from `rhein ctl`, one JSON
//! [`Reply`] per line back.

use serde::{Deserialize, Serialize};

/// An operation on the running server. Users are named by bare JID or, on the first host, by
/// username alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Sessions {
        user: Option<String>,
    },
    /// Ends one session (full JID) or all of an account's (bare JID or username).
    Kick {
        jid: String,
        reason: Option<String>,
    },
    Disable {
        user: String,
    },
    /// Deletes an account; its contacts are told (`rhein user del` asks the running server).
    DeleteUser {
        user: String,
    },
    Enable {
        user: String,
    },
    Rooms {
        host: Option<String>,
    },
    DestroyRoom {
        room: String,
        reason: Option<String>,
    },
    /// To every session of `host`, or of every host.
    Announce {
        text: String,
        host: Option<String>,
    },
    MotdSet {
        text: String,
        host: Option<String>,
    },
    MotdClear {
        host: Option<String>,
    },
    /// The federation links; with `close`, closes those of that remote domain first.
    S2s {
        close: Option<String>,
    },
    /// What SIGHUP does: certificates read again.
    Reload,
}

/// The answer: what the operation returned, or why it was refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Reply {
    Ok { result: Outcome },
    Refused { reason: String },
}

/// What an operation returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Outcome {
    Status(Status),
    Sessions {
        sessions: Vec<Session>,
    },
    Rooms {
        rooms: Vec<Room>,
    },
    Links {
        links: Vec<Link>,
        closed: Option<usize>,
    },
    /// Something was done; the words say what.
    Done {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_secs: u64,
    pub hosts: Vec<String>,
    /// Bound client sessions, of which `detached` wait for resumption (XEP-0198).
    pub client_sessions: usize,
    pub detached_sessions: usize,
    /// XMPP connections (TCP streams, WebSocket and BOSH sessions), bound or not.
    pub connections: usize,
    pub components: Vec<String>,
    pub s2s_outbound: usize,
    pub s2s_inbound: usize,
    /// Resident memory of the process, if the system tells.
    pub memory_bytes: Option<u64>,
    pub storage_backend: String,
    pub storage_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub jid: String,
    pub available: bool,
    pub priority: i8,
    pub detached: bool,
    pub inactive: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Room {
    pub jid: String,
    pub name: String,
    pub public: bool,
    pub persistent: bool,
    pub occupants: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub local: String,
    pub remote: String,
    pub inbound: bool,
}
