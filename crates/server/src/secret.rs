//! The server secret SASL answers names without an account with ([`ServerSecret`]): made on
//! first start and kept in the data folder, readable by its owner only, so those answers stay
//! the same across restarts (a changing salt for a name would tell that it has no account).

use rhein_sasl::ServerSecret;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The file in the data folder.
const FILE: &str = "server-secret";

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct SecretError {
    path: PathBuf,
    source: io::Error,
}

/// Reads the data folder's secret, or makes one there if it has none.
pub fn load_or_create(data_dir: &Path) -> Result<ServerSecret, SecretError> {
    let path = data_dir.join(FILE);
    let fail = |source| SecretError { path: path.clone(), source };
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    match create(&path) {
        Ok(secret) => {
            tracing::info!(path = %path.display(), "generated the server secret");
            Ok(secret)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => load(&path).map_err(fail),
        Err(e) => Err(fail(e)),
    }
}

/// Writes a new secret to a file that must not exist yet, readable by the owner only from
/// the start.
fn create(path: &Path) -> io::Result<ServerSecret> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let secret = ServerSecret::generate();
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret)
}

fn load(path: &Path) -> io::Result<ServerSecret> {
    let mut bytes = [0u8; ServerSecret::LEN];
    let mut file = std::fs::File::open(path)?;
    file.read_exact(&mut bytes)
        .and_then(|()| match file.read(&mut [0u8; 1])? {
            0 => Ok(()),
            _ => Err(io::ErrorKind::InvalidData.into()),
        })
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("not a {}-byte secret", ServerSecret::LEN)))?;
    restrict(path, &file)?;
    Ok(ServerSecret::from_bytes(bytes))
}

/// A secret others can read is made private again (a copied or restored data folder).
fn restrict(path: &Path, file: &std::fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the server secret was readable by others; now owner only");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let _ = (path, file);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rhein-secret-{}", rhein_proto::xml::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn made_once_kept_private_and_read_back() {
        let dir = scratch();
        let first = load_or_create(&dir).unwrap();
        let again = load_or_create(&dir).unwrap();
        assert_eq!(first.as_bytes(), again.as_bytes(), "the same secret after a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join(FILE)), 0o600);
            std::fs::set_permissions(dir.join(FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
            load_or_create(&dir).unwrap();
            assert_eq!(mode(&dir.join(FILE)), 0o600, "made private again");
        }
        let other = scratch();
        assert_ne!(load_or_create(&other).unwrap().as_bytes(), first.as_bytes(), "each server its own");
        std::fs::write(other.join(FILE), b"short").unwrap();
        assert!(load_or_create(&other).is_err(), "a damaged secret stops the start");
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(other);
    }
}
