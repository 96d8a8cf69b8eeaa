//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "rhein", version, about = "Rhein, an XMPP server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server. Without options: domain localhost, SQLite in ./rhein-data, ports 5222/5223.
    Serve(Box<ServeArgs>),
    /// Print the DOAP description of Rhein (the XEPs it implements).
    Doap,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage invitations (they work while the server runs).
    Invite {
        #[command(subcommand)]
        command: InviteCommand,
    },
    /// Control the running server through its admin socket. Exit status: 0 done, 1 refused
    /// or failed, 2 no server running.
    Ctl(CtlArgs),
    /// Write a consistent copy of the database to FILE while the server runs (SQLite; for
    /// PostgreSQL the command names the pg_dump invocation).
    Backup {
        file: PathBuf,
        /// Configuration file whose storage to back up (default: the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replace the database with a backup made by `rhein backup`; the server must be stopped.
    /// The replaced database is kept beside it as `.bak`.
    Restore {
        file: PathBuf,
        /// Configuration file whose storage to replace (default: the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write every account, room and channel (or one account) as an XEP-0227 document to
    /// standard output; it holds the accounts' password hashes: keep it private.
    Export {
        /// Only this account: a username of the first host, or a bare JID.
        #[arg(long)]
        user: Option<String>,
        /// Configuration file whose storage and hosts to export (default: the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Import an XEP-0227 document (`rhein export`'s, another server's, or ejabberd's with
    /// --from-ejabberd), or Prosody's storage (--from-prosody). The whole input is
    /// checked first;
    /// each account, room and channel then replaces what was stored under its address. The
    /// server must be stopped.
    Import {
        /// The XEP-0227 file; with --from-prosody, Prosody's data directory or its SQLite database.
        path: PathBuf,
        /// Check and count only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The path is Prosody's storage: its data directory (as /var/lib/prosody) for the file
        /// storage (`storage = "internal"`); for the SQL storage in SQLite (`storage = "sql"`),
        /// the database file, or a data directory holding `prosody.sqlite` and no directory of
        /// a configured host or its subdomains. The database is opened read-only.
        #[arg(long, conflicts_with = "from_ejabberd")]
        from_prosody: bool,
        /// The file is ejabberd's `ejabberdctl export_piefxis` output (its main file).
        #[arg(long)]
        from_ejabberd: bool,
        /// Configuration file whose storage and hosts to import into (default: the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Certificates: which names each covers and when it expires.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Read the certificates as the server would; exit status 1 if one cannot be served,
    /// misses its host's name or expires within 14 days.
    Check {
        /// Configuration file (default: the embedded default).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct CtlArgs {
    /// The admin socket (default: the one the configuration names, or rhein-data/rhein.sock).
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// Configuration file whose admin socket to use.
    #[arg(long, global = true, conflicts_with = "socket")]
    pub config: Option<PathBuf>,
    /// Print the server's answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand)]
pub enum CtlCommand {
    /// Version, uptime, sessions, links, memory and storage.
    Status,
    /// The sessions online, or one user's.
    Sessions {
        #[arg(long)]
        user: Option<String>,
    },
    /// End a session (full JID) or every session of a user (bare JID or username).
    Kick {
        jid: String,
        /// Told to the client in the stream error.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Disable an account: its sessions end and it cannot log in.
    Disable { user: String },
    /// Enable a disabled account again.
    Enable { user: String },
    /// Every room, hidden ones too.
    Rooms {
        #[arg(long)]
        host: Option<String>,
    },
    /// Act on a room.
    Room {
        #[command(subcommand)]
        command: RoomCommand,
    },
    /// Send a message to every session online.
    Announce {
        text: String,
        #[arg(long)]
        host: Option<String>,
    },
    /// The message of the day, sent to each session as it logs in.
    Motd {
        #[command(subcommand)]
        command: MotdCommand,
    },
    /// Read certificates again (what SIGHUP does); the sessions stay.
    Reload,
    /// Federation links; --close ends those of a remote domain.
    S2s {
        #[arg(long, value_name = "DOMAIN")]
        close: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RoomCommand {
    /// Destroy a room: its occupants are told, it is deleted.
    Destroy {
        room: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum MotdCommand {
    Set {
        text: String,
        #[arg(long)]
        host: Option<String>,
    },
    Clear {
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum InviteCommand {
    /// Create an invitation to register an account; prints its link and its xmpp: URI.
    Create {
        /// The account it creates is an administrator.
        #[arg(long)]
        admin: bool,
        /// How many accounts it may create.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// How long it can be used: a number of days, hours or minutes (7d, 12h, 30m).
        #[arg(long, default_value = "7d", value_parser = parse_duration_ms)]
        expires: i64,
        /// Roster group the new account puts its inviter in (repeatable; with --inviter).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Room (bare JID) the new account becomes a member of (repeatable).
        #[arg(long = "room")]
        rooms: Vec<String>,
        /// The only username it may register.
        #[arg(long)]
        username: Option<String>,
        /// An account (bare JID) the new account becomes a mutual contact of.
        #[arg(long)]
        inviter: Option<String>,
        /// What it is for, shown by `rhein invite list`.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List the invitations of a host, newest first.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke an invitation by its id (from `rhein invite list`).
    Revoke {
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

/// `7d`, `12h`, `30m` (or a bare number of days) in milliseconds.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let (number, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 'd'),
    };
    let n: i64 =
        number.parse().map_err(|_| format!("{s:?}: expected a number of days, hours or minutes (7d, 12h, 30m)"))?;
    let unit_ms = match unit {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        _ => return Err(format!("{s:?}: the unit is d, h or m")),
    };
    n.checked_mul(unit_ms).filter(|ms| *ms > 0).ok_or_else(|| format!("{s:?}: out of range"))
}

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see deploy/rhein.toml.
    #[arg(long, conflicts_with = "ephemeral")]
    pub config: Option<PathBuf>,
    /// Throwaway server for integration tests: in-memory storage, nothing written to disk,
    /// plaintext c2s allowed on loopback; prints one JSON line with its addresses when ready.
    #[arg(long)]
    pub ephemeral: bool,
    /// Account to create, as NAME:PASSWORD (repeatable; --ephemeral only).
    #[arg(long = "user", value_name = "NAME:PASSWORD", requires = "ephemeral")]
    pub users: Vec<String>,
    /// Domain served (--ephemeral only).
    #[arg(long, default_value = "localhost", requires = "ephemeral")]
    pub domain: String,
    /// STARTTLS c2s address (--ephemeral only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", requires = "ephemeral")]
    pub c2s: SocketAddr,
    /// Direct-TLS c2s address (--ephemeral only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", requires = "ephemeral")]
    pub c2s_tls: SocketAddr,
    /// HTTP address for XMPP over WebSocket and discovery (--ephemeral only; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0", requires = "ephemeral")]
    pub http: SocketAddr,
    /// HTTPS address, with the ephemeral self-signed certificate (--ephemeral only).
    #[arg(long, default_value = "127.0.0.1:0", requires = "ephemeral")]
    pub https: SocketAddr,
    /// External component to accept, as DOMAIN:SECRET (repeatable; --ephemeral only).
    #[arg(long = "component", value_name = "DOMAIN:SECRET", requires = "ephemeral")]
    pub components: Vec<String>,
    /// Address components connect to (--ephemeral only, with --component).
    #[arg(long, default_value = "127.0.0.1:0", requires = "ephemeral")]
    pub component_listener: SocketAddr,
    /// Federate: accept other servers on this address (--ephemeral only).
    #[arg(long, value_name = "ADDR", requires = "ephemeral")]
    pub s2s: Option<SocketAddr>,
    /// Reach a remote domain at a fixed address instead of DNS, as DOMAIN=ADDR, or
    /// DOMAIN=tls:ADDR for direct TLS (repeatable; --ephemeral only, with --s2s).
    #[arg(long = "s2s-route", value_name = "DOMAIN=ADDR", requires = "s2s")]
    pub s2s_routes: Vec<String>,
    /// A TOML file whose `[modules]` section (enabled list, per-module tables) replaces the
    /// default one (--ephemeral only): to try a module with settings, or to give a test
    /// server an abuse contact or a TURN secret.
    #[arg(long = "modules", value_name = "FILE", requires = "ephemeral")]
    pub modules: Option<PathBuf>,
    /// Print a ready-made account invitation (its link and xmpp: URI) in the JSON ready
    /// line, under "invite"; with a user's name, the new account and that user become
    /// contacts (--ephemeral only).
    #[arg(long, value_name = "INVITER", num_args = 0..=1, default_missing_value = "", requires = "ephemeral")]
    pub invite: Option<String>,
    /// Make a user (one of --user) an administrator (repeatable; --ephemeral only).
    #[arg(long = "admin", value_name = "NAME", requires = "ephemeral")]
    pub admins: Vec<String>,
    /// Open an admin socket for `rhein ctl` at this path (--ephemeral only; a server with a
    /// data directory always has one).
    #[arg(long, value_name = "PATH", requires = "ephemeral")]
    pub admin_socket: Option<PathBuf>,
    /// Serve Converse.js from this npm package directory at /webchat/ (--ephemeral only).
    #[arg(long, value_name = "DIR", requires = "ephemeral")]
    pub webchat_dir: Option<PathBuf>,
    /// Log filter (overrides the config), e.g. "debug" or "info,rhein_c2s=trace".
    #[arg(long)]
    pub log: Option<String>,
}

#[derive(Args)]
pub struct Target {
    /// Configuration file whose storage and first host to use (default: the embedded default).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Host the account belongs to (default: the first configured host).
    #[arg(long)]
    pub domain: Option<String>,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create accounts: one, or several with the same password (test and benchmark fleets).
    Add {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Make them administrators of their host.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Delete an account and everything stored for it.
    Del {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Change an account's password.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List the accounts of a host.
    List {
        #[command(flatten)]
        target: Target,
    },
}
