//! `rhein ctl`: one request to the running server's admin socket, its answer shown for people
//! or, with `--json`, as the server sent it.

use crate::cli::{CtlArgs, CtlCommand, MotdCommand, RoomCommand};
use anyhow::{Context, bail};
use rhein_server::Config;
use rhein_server::control::protocol::{Outcome, Reply, Request, Status};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// No server is listening on the admin socket (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("no server running (no admin socket at {})", .0.display())]
pub struct NotRunning(PathBuf);

pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let path = socket_path(&args)?;
    let request = request(args.command);
    let reply = ask(&path, &request)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    }
    match reply {
        Reply::Refused { reason } => bail!("refused: {reason}"),
        Reply::Ok { result } if !args.json => print!("{}", show(&result)),
        Reply::Ok { .. } => {}
    }
    Ok(())
}

fn socket_path(args: &CtlArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.socket {
        return Ok(path.clone());
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_default(),
    };
    Ok(config.server.admin_socket_path())
}

fn request(command: CtlCommand) -> Request {
    match command {
        CtlCommand::Status => Request::Status,
        CtlCommand::Sessions { user } => Request::Sessions { user },
        CtlCommand::Kick { jid, reason } => Request::Kick { jid, reason },
        CtlCommand::Disable { user } => Request::Disable { user },
        CtlCommand::Enable { user } => Request::Enable { user },
        CtlCommand::Rooms { host } => Request::Rooms { host },
        CtlCommand::Room { command: RoomCommand::Destroy { room, reason } } => Request::DestroyRoom { room, reason },
        CtlCommand::Announce { text, host } => Request::Announce { text, host },
        CtlCommand::Motd { command: MotdCommand::Set { text, host } } => Request::MotdSet { text, host },
        CtlCommand::Motd { command: MotdCommand::Clear { host } } => Request::MotdClear { host },
        CtlCommand::S2s { close } => Request::S2s { close },
        CtlCommand::Reload => Request::Reload,
    }
}

/// Sends the request and reads the reply line.
pub(crate) fn ask(path: &PathBuf, request: &Request) -> anyhow::Result<Reply> {
    trust(path)?;
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => anyhow::Error::new(NotRunning(path.clone())),
        ErrorKind::PermissionDenied => {
            anyhow::anyhow!("{}: permission denied (the admin socket is the server user's)", path.display())
        }
        _ => anyhow::Error::new(e).context(format!("connecting to {}", path.display())),
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line).context("sending the request")?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).context("reading the answer")?;
    serde_json::from_str(&answer).with_context(|| format!("the server's answer does not read: {answer:?}"))
}

/// Whether the socket at `path` can be the server's: a socket owned by this user or by
/// root, or (for root, who may talk to a server running as any user) one in a directory
/// nobody else may write to. A socket someone else put in a shared directory gets no
/// request (it could be answering in the server's name).
fn trust(path: &PathBuf) -> anyhow::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let Ok(socket) = std::fs::metadata(path) else { return Ok(()) }; // Not there: connecting says so.
    if !socket.file_type().is_socket() {
        bail!("{} is not a socket", path.display());
    }
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    if socket.uid() == me || socket.uid() == 0 {
        return Ok(());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let shared = std::fs::metadata(dir).map(|d| d.permissions().mode() & 0o002 != 0).unwrap_or(true);
    if me == 0 && !shared {
        return Ok(());
    }
    bail!("{} belongs to uid {}, not to this user: not the server's socket", path.display(), socket.uid())
}

/// The outcome as lines for people.
fn show(outcome: &Outcome) -> String {
    let mut out = String::new();
    match outcome {
        Outcome::Status(status) => out = show_status(status),
        Outcome::Sessions { sessions } if sessions.is_empty() => out.push_str("no sessions\n"),
        Outcome::Sessions { sessions } => {
            for s in sessions {
                let mut flags = vec![if s.available { "available" } else { "unavailable" }];
                flags.extend(s.detached.then_some("detached"));
                flags.extend(s.inactive.then_some("inactive"));
                out.push_str(&format!("{}  priority {}  {}\n", s.jid, s.priority, flags.join(", ")));
            }
        }
        Outcome::Rooms { rooms } if rooms.is_empty() => out.push_str("no rooms\n"),
        Outcome::Rooms { rooms } => {
            for r in rooms {
                let kind =
                    [if r.public { "public" } else { "hidden" }, if r.persistent { "persistent" } else { "temporary" }];
                let name = if r.name.is_empty() { String::new() } else { format!("  \"{}\"", r.name) };
                out.push_str(&format!("{}  {} occupant(s)  {}{name}\n", r.jid, r.occupants, kind.join(", ")));
            }
        }
        Outcome::Links { links, closed } => {
            if let Some(n) = closed {
                out.push_str(&format!("{n} stream(s) closed\n"));
            }
            if links.is_empty() {
                out.push_str("no federation links\n");
            }
            for l in links {
                let (arrow, way) = if l.inbound { ("<-", "inbound") } else { ("->", "outbound") };
                out.push_str(&format!("{} {arrow} {}  {way}\n", l.local, l.remote));
            }
        }
        Outcome::Done { message } => out = format!("{message}\n"),
    }
    out
}

fn show_status(s: &Status) -> String {
    let uptime = s.uptime_secs;
    let mut lines = vec![
        format!("Rhein {}", s.version),
        format!("uptime      {}h {:02}m {:02}s", uptime / 3600, uptime / 60 % 60, uptime % 60),
        format!("hosts       {}", s.hosts.join(", ")),
        format!(
            "sessions    {} client ({} detached), {} connection(s)",
            s.client_sessions, s.detached_sessions, s.connections
        ),
        format!("components  {}", if s.components.is_empty() { "none".into() } else { s.components.join(", ") }),
        format!("s2s         {} outbound, {} inbound", s.s2s_outbound, s.s2s_inbound),
    ];
    if let Some(bytes) = s.memory_bytes {
        lines.push(format!("memory      {}", mib(bytes)));
    }
    let size = s.storage_bytes.map(|b| format!(", {}", mib(b))).unwrap_or_default();
    lines.push(format!("storage     {}{size}", s.storage_backend));
    lines.join("\n") + "\n"
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
