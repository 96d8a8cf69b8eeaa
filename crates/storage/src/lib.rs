//! The one storage layer of Rhein: a [`Db`] over SQLite (embedded default) or PostgreSQL,
//! chosen by URL scheme, with embedded migrations and one repository per concern.
//!
//! SQL is written once with `$N` placeholders, which both sqlx drivers accept. Column types are
//! the portable subset (BIGINT epoch milliseconds, TEXT, BLOB/BYTEA, BOOLEAN). Must not depend
//! on XMPP crates: JIDs arrive here as strings already prepared by the caller. (The pubsub
//! engine's vocabulary, which has no XMPP in it, is how pubsub affiliations are stored.)

/// An enum stored as TEXT, by name: `as_str`, and a `FromStr` that reads any other name as a
/// corrupt row (never as a default: a stored state that does not read is damage, not news).
macro_rules! stored_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = crate::StorageError;

            fn from_str(s: &str) -> Result<Self, crate::StorageError> {
                match s {
                    $($name => Ok(Self::$variant),)*
                    other => Err(crate::StorageError::Corrupt(format!(concat!($what, " {:?}"), other))),
                }
            }
        }
    };
}

mod account_data;
mod accounts;
mod archive;
mod backup;
mod cache;
mod db;
mod epoch;
mod fast;
mod image;
mod invites;
mod last_seen;
mod migrate;
mod muc;
mod offline;
mod pubsub;
mod push;
mod roster;
mod unread;
mod upload;
mod writer;

pub use account_data::{AccountData, Blocklist, MIX_CHANNELS};
pub use accounts::Accounts;
pub use archive::{Archive, ArchiveDefault, ArchivePage, ArchivePrefs, ArchiveQuery, ArchiveRow, Committing, Page};
pub use backup::{BackupError, Restored, restore_sqlite, sqlite_file};
pub use db::{Db, now_ms};
pub use epoch::ACCOUNT_CHANGES_SETTLE;
pub use fast::FastTokens;
pub use image::{AccountImage, Document, Images, NodeImage, OwnerImage, RoomImage};
pub use invites::{FIRST_ADMIN, Invite, InviteKind, Invites, NewInvite, NotRegistered, Refused};
pub use muc::{AffiliationRow, Muc, RoomAffiliation, RoomPushRow, RoomRow};
pub use offline::{Offline, OfflineMessage};
pub use pubsub::{ItemPage, ItemRow, Pubsub, new_subid};
pub use push::{PushRegistration, PushRegistrations};
pub use roster::{LastActivity, Roster, RosterItems, RosterRow, Subscription, SubscriptionRequests};
pub use unread::{Marks, Unread, UnreadRow};
pub use upload::{SlotRow, Uploads};

/// Tables keyed by `owner` (a bare JID): emptied when the account is deleted.
pub(crate) const OWNED_TABLES: &[&str] = &[
    "roster_item",
    "roster_version",
    "subscription_request",
    "offline_message",
    "last_activity",
    "account_data",
    "blocklist",
    "archive",
    "archive_count",
    "archive_prefs",
    "unread_mark",
    "unread_mention",
    "push_registration",
    "fast_token",
    "pubsub_subscription",
    "pubsub_affiliation",
    "pubsub_item",
    "pubsub_node",
];

/// Why a storage call failed. Details are for the log; peers only ever see `internal-server-error`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("invalid storage URL {url:?}: expected sqlite://PATH, sqlite::memory: or postgres://...")]
    BadUrl { url: String },
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("cannot create {path}: {error}")]
    CreateDir { path: String, error: String },
    #[error("corrupt row: {0}")]
    Corrupt(String),
}
