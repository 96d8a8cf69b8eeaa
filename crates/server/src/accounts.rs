//! Account management shared by the CLI and `--ephemeral`: usernames prepared as XMPP local
//! parts, credentials derived off the async runtime.

use rhein_sasl::Credentials;
use rhein_storage::{Db, StorageError};

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0:?} is not a valid username")]
    InvalidName(String),
    #[error("the password must not be empty")]
    EmptyPassword,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Prepares `user` as a local part of `host` (lower-cased, RFC 7622).
pub fn prepare(user: &str, host: &str) -> Result<String, AccountError> {
    rhein_proto::prepare_localpart(user, host).ok_or_else(|| AccountError::InvalidName(user.to_owned()))
}

async fn derive(password: &str) -> Result<Credentials, AccountError> {
    if password.is_empty() {
        return Err(AccountError::EmptyPassword);
    }
    Ok(rhein_module::derive_credentials(password).await)
}

/// Creates an account; `Ok(false)` if it exists already.
pub async fn add(db: &Db, host: &str, user: &str, password: &str) -> Result<bool, AccountError> {
    let user = prepare(user, host)?;
    let creds = derive(password).await?;
    Ok(db.accounts().create(host, &user, &creds).await?)
}

/// Sets a new password; `Ok(false)` if there is no such account.
pub async fn set_password(db: &Db, host: &str, user: &str, password: &str) -> Result<bool, AccountError> {
    let user = prepare(user, host)?;
    let creds = derive(password).await?;
    Ok(db.accounts().set_credentials(host, &user, &creds).await?)
}

/// Deletes an account and its data; `Ok(false)` if there was none.
pub async fn delete(db: &Db, host: &str, user: &str) -> Result<bool, AccountError> {
    let user = prepare(user, host)?;
    Ok(db.accounts().delete(host, &user).await?)
}
