//! The admin socket: a Unix socket (by default `rhein.sock` in the data directory) through
//! which `rhein ctl` runs operations on the running server. No network exposure and no
//! password: the socket is the server user's alone (mode 0600), and a connection from any
//! other user but root is refused on its credentials as well. One JSON request per line, one
//! JSON reply per line.

mod operations;
pub mod protocol;

pub(crate) use operations::Operations;

use protocol::{Reply, Request};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// A request line is at most this long (the longest is an announcement).
const MAX_REQUEST: usize = 64 * 1024;
/// A client that sends nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

/// Why the socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("admin socket {path}: another server is running there")]
    InUse { path: PathBuf },
    #[error("admin socket {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Binds the socket at `path` (replacing a stale one a crashed server left) and serves it
/// until `stop`; the socket file is removed then.
pub(crate) async fn spawn(path: &Path, ops: Operations, mut stop: watch::Receiver<bool>) -> Result<(), ControlError> {
    let io_error = |source| ControlError::Io { path: path.to_owned(), source };
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ControlError::InUse { path: path.to_owned() });
        }
        std::fs::remove_file(path).map_err(io_error)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error)?;
    }
    let listener = UnixListener::bind(path).map_err(io_error)?;
    // Connecting takes write permission: under the usual umask nobody else had it even
    // before this.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    let owner = std::fs::metadata(path).map_err(io_error)?.uid();
    let path = path.to_owned();
    let ops = Arc::new(ops);
    tracing::info!(path = %path.display(), "admin socket open");
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, owner, ops.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = stopped(&mut stop) => break,
            }
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One client: requests answered in order until it hangs up.
async fn serve(stream: UnixStream, owner: u32, ops: Arc<Operations>) {
    let peer = stream.peer_cred().map(|c| c.uid()).ok();
    let (read, mut write) = stream.into_split();
    let allowed = peer.is_some_and(|uid| uid == owner || uid == 0);
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    if !allowed {
        // Told at once; its request is read (a little of it, briefly) only so that it can
        // read the answer instead of finding the connection gone.
        tracing::warn!(uid = ?peer, "admin socket: connection from another user refused");
        let _ = tokio::time::timeout(Duration::from_secs(1), (&mut lines).take(1024).read_line(&mut line)).await;
        let reply = Reply::Refused { reason: "only the server's user may use the admin socket".into() };
        let _ = write_reply(&mut write, &reply).await;
        return;
    }
    loop {
        line.clear();
        let read = tokio::time::timeout(IDLE, (&mut lines).take(MAX_REQUEST as u64 + 1).read_line(&mut line)).await;
        match read {
            Ok(Ok(0)) | Err(_) => return,
            Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        let reply = match (line.len() > MAX_REQUEST, serde_json::from_str::<Request>(&line)) {
            (true, _) => Reply::Refused { reason: format!("a request is at most {MAX_REQUEST} bytes") },
            (false, Err(e)) => Reply::Refused { reason: format!("not a request: {e}") },
            (false, Ok(request)) => {
                tracing::info!(?request, "admin socket request");
                ops.run(request).await
            }
        };
        if write_reply(&mut write, &reply).await.is_err() || line.len() > MAX_REQUEST {
            return;
        }
    }
}

async fn write_reply(write: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}
