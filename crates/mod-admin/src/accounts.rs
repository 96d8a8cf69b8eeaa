//! XEP-0133 §4.1–§4.4, §4.7, §4.9–§4.11, §4.15–§4.18: adding, deleting, disabling and
//! re-enabling accounts, changing a password, an account's roster, last login and statistics,
//! and the registered and disabled accounts (their number and their list).

use crate::{Done, Run, field, value};
use rhein_module::commands::Submitted;
use rhein_module::storage_failure;
use rhein_proto::StanzaError;
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::{Field, FieldType};

/// The new password of a form, given twice alike where the form asks twice.
fn password<'a>(submitted: &'a Submitted<'_>, twice: bool) -> Result<&'a str, StanzaError> {
    let password = submitted.required("password")?;
    if twice && submitted.value("password-verify") != Some(password) {
        return Err(StanzaError::bad_request().with_text("password and password-verify differ"));
    }
    Ok(password)
}

/// The form of a command about one account.
fn ask_account(run: &Run, title: &str) -> Command {
    run.ask(title, vec![field("accountjid", FieldType::JidSingle, "The Jabber ID of the account", true)])
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
    run.service.add_user(&run.ctx, &account, password(&submitted, true)?).await?;
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
    let accounts = run.accounts(&submitted, "accountjids")?;
    run.service.delete_users(&run.ctx, &accounts).await?;
    Ok(run.done(Done::Note(format!("{} deleted", crate::names(&accounts)))))
}

/// §4.3 Disable a User, and §4.4 Re-Enable a User: a disabled account's sessions end and its
/// logins are refused with `account-disabled`.
pub(crate) async fn set_disabled(run: Run, disabled: bool) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        let title = if disabled { "Disabling users" } else { "Re-enabling users" };
        return Ok(run.ask(title, vec![field("accountjids", FieldType::JidMulti, "The Jabber ID(s)", true)]));
    };
    let accounts = run.accounts(&submitted, "accountjids")?;
    run.service.set_disabled(&run.ctx, &accounts, disabled).await?;
    let what = if disabled { "disabled" } else { "enabled again" };
    Ok(run.done(Done::Note(format!("{} {what}", crate::names(&accounts)))))
}

/// §4.17–§4.18 the disabled accounts: their number or their list.
pub(crate) async fn disabled_users(run: Run, list: bool) -> Result<Command, StanzaError> {
    let users = run.service.disabled(&run.ctx).await?;
    let field = match list {
        true => values("disableduserjids", FieldType::JidMulti, users.iter().map(|u| u.to_string())),
        false => value("disabledusersnum", FieldType::TextSingle, &users.len().to_string()),
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
    run.service.change_password(&run.ctx, &account, password(&submitted, false)?).await?;
    Ok(run.done(Done::Note(format!("the password of {account} was changed"))))
}

/// §4.15 Get Number of Registered Users, and §4.16 the list.
pub(crate) async fn registered(run: Run, list: bool) -> Result<Command, StanzaError> {
    let users = run.service.registered(&run.ctx).await?;
    let field = match list {
        true => values("registereduserjids", FieldType::JidMulti, users.iter().map(|u| u.to_string())),
        false => value("registeredusersnum", FieldType::TextSingle, &users.len().to_string()),
    };
    Ok(run.done(Done::Form(vec![field])))
}

/// §4.10 Get User Last Login Time: now for an account online, else when it was last seen.
pub(crate) async fn last_login(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else { return Ok(ask_account(&run, "A user's last login")) };
    let account = run.account(submitted.required("accountjid")?)?;
    let Some(stamp) = run.service.last_login(&run.ctx, &account).await? else {
        return Ok(run.done(Done::Note(format!("{account} never logged in"))));
    };
    Ok(run.done(Done::Form(vec![
        value("accountjid", FieldType::JidSingle, account.as_str()),
        value("lastlogin", FieldType::TextSingle, &rhein_proto::time::datetime(stamp)),
    ])))
}

/// §4.11 Get User Statistics: roster size and the sessions online (their resources).
pub(crate) async fn statistics(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else { return Ok(ask_account(&run, "A user's statistics")) };
    let account = run.account(submitted.required("accountjid")?)?;
    let stats = run.service.user_stats(&run.ctx, &account).await?;
    Ok(run.done(Done::Form(vec![
        value("accountjid", FieldType::JidSingle, account.as_str()),
        value("rostersize", FieldType::TextSingle, &stats.roster_size.to_string()),
        values("onlineresources", FieldType::TextMulti, stats.sessions.iter().map(|s| s.jid.resource().to_string())),
    ])))
}

/// §4.9 Get User Roster: the account's roster beside the form that names it.
pub(crate) async fn roster(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else { return Ok(ask_account(&run, "A user's roster")) };
    let account = run.account(submitted.required("accountjid")?)?;
    run.service.require_existing(&run.ctx, std::slice::from_ref(&account)).await?;
    let roster = run.ctx.db.roster();
    let version = roster.version(account.as_str()).await.map_err(storage_failure)?.to_string();
    let rows = roster.items(account.as_str()).await.map_err(storage_failure)?;
    let mut answer = run.done(Done::Form(vec![value("accountjid", FieldType::JidSingle, account.as_str())]));
    answer.payloads.push(rhein_module::roster::query(&version, rows.iter()));
    Ok(answer)
}

/// A result field of many values.
fn values(var: &str, kind: FieldType, values: impl Iterator<Item = String>) -> Field {
    let mut field = Field::new(var, kind);
    field.values = values.collect();
    field
}
