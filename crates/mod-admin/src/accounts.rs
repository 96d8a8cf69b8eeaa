//! XEP-0133 §4.1–§4.2, §4.7, §4.15–§4.16: adding and deleting accounts, changing a password,
//! and the registered accounts (their number and their list).

use crate::{Done, Run, field, value};
use rhein_module::storage_failure;
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::{Field, FieldType};
use rhein_proto::{BareJid, StanzaError};

/// The new password of a form, given twice alike where the form asks twice.
fn password(submitted: &rhein_module::commands::Submitted<'_>, twice: bool) -> Result<String, StanzaError> {
    let password = submitted.required("password")?;
    if twice && submitted.value("password-verify") != Some(password) {
        return Err(StanzaError::bad_request().with_text("password and password-verify differ"));
    }
    Ok(password.to_owned())
}

/// §4.1 Add User.
pub(crate) async fn add_user(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "Adding a user",
            vec![
                field("accountjid", FieldType::JidSingle, "The Jabber ID for the account to be added", true),
                field("password", FieldType::TextPrivate, "The password for this account", true),
                field("password-verify", FieldType::TextPrivate, "Retype password", true),
            ],
        ));
    };
    let account = run.account(submitted.required("accountjid")?)?;
    let password = password(&submitted, true)?;
    let credentials = rhein_module::derive_credentials(&password).await;
    let (host, user) = parts(&account);
    if !run.ctx.db.accounts().create(host, user, &credentials).await.map_err(storage_failure)? {
        return Err(StanzaError::conflict().with_text(format!("{account} exists already")));
    }
    tracing::info!(%account, "account added by an administrator");
    Ok(run.done(Done::Note(format!("{account} was added"))))
}

/// §4.2 Delete User: every account named, or none if one does not exist.
pub(crate) async fn delete_user(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "Deleting users",
            vec![field("accountjids", FieldType::JidMulti, "The Jabber ID(s) to delete", true)],
        ));
    };
    let accounts = existing_accounts(&run, &submitted).await?;
    for account in &accounts {
        let (host, user) = parts(account);
        run.ctx.db.accounts().delete(host, user).await.map_err(storage_failure)?;
        tracing::info!(%account, "account deleted by an administrator");
    }
    Ok(run.done(Done::Note(format!("{} deleted", crate::names(&accounts)))))
}

/// The accounts named by a form's `accountjids`, each existing; `item-not-found` for the
/// first that does not.
async fn existing_accounts(
    run: &Run,
    submitted: &rhein_module::commands::Submitted<'_>,
) -> Result<Vec<BareJid>, StanzaError> {
    let accounts = submitted.values("accountjids").iter().map(|j| run.account(j)).collect::<Result<Vec<_>, _>>()?;
    if accounts.is_empty() {
        return Err(StanzaError::bad_request().with_text("the field accountjids is required"));
    }
    for account in &accounts {
        let (host, user) = parts(account);
        if !run.ctx.db.accounts().exists(host, user).await.map_err(storage_failure)? {
            return Err(StanzaError::item_not_found().with_text(format!("there is no account {account}")));
        }
    }
    Ok(accounts)
}

/// §4.3 Disable a User, and §4.4 Re-Enable a User: a disabled account's sessions end and its
/// logins are refused with `account-disabled`.
pub(crate) async fn set_disabled(run: Run, disabled: bool) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        let title = if disabled { "Disabling users" } else { "Re-enabling users" };
        return Ok(run.ask(title, vec![field("accountjids", FieldType::JidMulti, "The Jabber ID(s)", true)]));
    };
    let accounts = existing_accounts(&run, &submitted).await?;
    for account in &accounts {
        let (host, user) = parts(account);
        run.ctx.db.accounts().set_disabled(host, user, disabled).await.map_err(storage_failure)?;
        if disabled {
            run.ctx.router.end_sessions(account);
        }
        tracing::info!(%account, disabled, "account disabled or enabled by an administrator");
    }
    let what = if disabled { "disabled" } else { "enabled again" };
    Ok(run.done(Done::Note(format!("{} {what}", crate::names(&accounts)))))
}

/// §4.17–§4.18 the disabled accounts: their number or their list.
pub(crate) async fn disabled_users(run: Run, list: bool) -> Result<Command, StanzaError> {
    let users = run.ctx.db.accounts().disabled(&run.ctx.host).await.map_err(storage_failure)?;
    let field = if list {
        let mut jids = Field::new("disableduserjids", FieldType::JidMulti);
        jids.values = users.into_iter().map(|u| format!("{u}@{}", run.ctx.host)).collect();
        jids
    } else {
        value("disabledusersnum", FieldType::TextSingle, &users.len().to_string())
    };
    Ok(run.done(Done::Form(vec![field])))
}

/// §4.7 Change User Password; the account's sessions end (they logged in with the old one).
pub(crate) async fn change_password(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "Changing a user's password",
            vec![
                field("accountjid", FieldType::JidSingle, "The Jabber ID for this account", true),
                field("password", FieldType::TextPrivate, "The password for this account", true),
            ],
        ));
    };
    let account = run.account(submitted.required("accountjid")?)?;
    let password = password(&submitted, false)?;
    let credentials = rhein_module::derive_credentials(&password).await;
    let (host, user) = parts(&account);
    if !run.ctx.db.accounts().set_credentials(host, user, &credentials).await.map_err(storage_failure)? {
        return Err(StanzaError::item_not_found().with_text(format!("there is no account {account}")));
    }
    run.ctx.router.end_sessions(&account);
    tracing::info!(%account, "password changed by an administrator");
    Ok(run.done(Done::Note(format!("the password of {account} was changed"))))
}

/// §4.15 Get Number of Registered Users.
pub(crate) async fn registered_num(run: Run) -> Result<Command, StanzaError> {
    let users = run.ctx.db.accounts().list(&run.ctx.host).await.map_err(storage_failure)?;
    Ok(run.done(Done::Form(vec![value("registeredusersnum", FieldType::TextSingle, &users.len().to_string())])))
}

/// §4.16 Get List of Registered Users.
pub(crate) async fn registered_list(run: Run) -> Result<Command, StanzaError> {
    let users = run.ctx.db.accounts().list(&run.ctx.host).await.map_err(storage_failure)?;
    let mut jids = Field::new("registereduserjids", FieldType::JidMulti);
    jids.values = users.into_iter().map(|u| format!("{u}@{}", run.ctx.host)).collect();
    Ok(run.done(Done::Form(vec![jids])))
}

/// §4.10 Get User Last Login Time: now for an account online, else when it was last seen.
pub(crate) async fn last_login(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "A user's last login",
            vec![field("accountjid", FieldType::JidSingle, "The Jabber ID of the account", true)],
        ));
    };
    let account = run.account(submitted.required("accountjid")?)?;
    let (host, user) = parts(&account);
    if !run.ctx.db.accounts().exists(host, user).await.map_err(storage_failure)? {
        return Err(StanzaError::item_not_found().with_text(format!("there is no account {account}")));
    }
    let stamp = match run.ctx.router.resources(&account).is_empty() {
        false => Some(rhein_storage::now_ms()),
        true => run.ctx.db.last_activity().get(account.as_str()).await.map_err(storage_failure)?.map(|(at, _)| at),
    };
    let Some(stamp) = stamp else { return Ok(run.done(Done::Note(format!("{account} never logged in")))) };
    let when = rhein_proto::time::datetime(stamp);
    Ok(run.done(Done::Form(vec![
        value("accountjid", FieldType::JidSingle, account.as_str()),
        value("lastlogin", FieldType::TextSingle, &when),
    ])))
}

/// §4.9 Get User Roster: the account's roster beside the form that names it.
pub(crate) async fn roster(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        return Ok(run.ask(
            "A user's roster",
            vec![field("accountjid", FieldType::JidSingle, "The Jabber ID of the account", true)],
        ));
    };
    let account = run.account(submitted.required("accountjid")?)?;
    let (host, user) = parts(&account);
    if !run.ctx.db.accounts().exists(host, user).await.map_err(storage_failure)? {
        return Err(StanzaError::item_not_found().with_text(format!("there is no account {account}")));
    }
    let roster = run.ctx.db.roster();
    let version = roster.version(account.as_str()).await.map_err(storage_failure)?.to_string();
    let rows = roster.items(account.as_str()).await.map_err(storage_failure)?;
    let mut answer = run.done(Done::Form(vec![value("accountjid", FieldType::JidSingle, account.as_str())]));
    answer.payloads.push(rhein_module::roster::query(&version, rows.iter()));
    Ok(answer)
}

fn parts(account: &BareJid) -> (&str, &str) {
    (account.domain().as_str(), account.node().map(|n| n.as_str()).unwrap_or_default())
}
