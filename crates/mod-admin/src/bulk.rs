//! Adding several accounts at once, a command in two stages: the accounts first, then a
//! password for each (left empty, one is made up and shown once in the result). Rhein's own
//! command (`urn:rhein:admin#add-users`), for an administrator onboarding a group.

use crate::service::AdminService;
use crate::{ADMIN, field, value};
use rhein_module::Ctx;
use rhein_module::commands::{Finished, Stages};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, FieldType};
use rhein_proto::{BareJid, StanzaError};
use std::sync::Arc;

pub(crate) const NODE: &str = "urn:rhein:admin#add-users";
/// Accounts one run adds at most.
const MAX_ACCOUNTS: usize = 100;

pub(crate) fn stages(service: &Arc<AdminService>) -> Stages {
    let (second, finish) = (service.clone(), service.clone());
    Stages::new(move |ctx, answers| add(finish.clone(), ctx, answers))
        .stage(|_, _| async {
            let mut form = DataForm::new(
                DataFormType::Form,
                ADMIN,
                vec![field("accountjids", FieldType::JidMulti, "The accounts to add", true)],
            );
            form.title = Some("Adding users".into());
            Ok(form)
        })
        .stage(move |ctx, answers| {
            let service = second.clone();
            async move {
                let accounts = new_accounts(&service, &ctx, &answers).await?;
                let fields = accounts
                    .iter()
                    .map(|a| {
                        field(a.as_str(), FieldType::TextPrivate, &format!("Password for {a} (empty: made up)"), false)
                    })
                    .collect();
                let mut form = DataForm::new(DataFormType::Form, ADMIN, fields);
                form.title = Some("Their passwords".into());
                Ok(form)
            }
        })
}

/// The accounts the first stage named: of this host, none existing yet.
async fn new_accounts(service: &AdminService, ctx: &Ctx, answers: &[DataForm]) -> Result<Vec<BareJid>, StanzaError> {
    let named = answers.first().and_then(|f| f.fields.iter().find(|f| f.var.as_deref() == Some("accountjids")));
    let mut accounts = Vec::new();
    for jid in named.map(|f| f.values.as_slice()).unwrap_or_default() {
        let account = BareJid::new(jid.trim())
            .map_err(|_| StanzaError::jid_malformed().with_text(format!("{jid:?} is not a JID")))?;
        accounts.push(service.account(ctx, account.as_str())?);
    }
    accounts.sort();
    accounts.dedup();
    if accounts.is_empty() || accounts.len() > MAX_ACCOUNTS {
        return Err(StanzaError::bad_request().with_text(format!("name 1 to {MAX_ACCOUNTS} accounts in accountjids")));
    }
    for account in &accounts {
        if service.require_existing(ctx, std::slice::from_ref(account)).await.is_ok() {
            return Err(StanzaError::conflict().with_text(format!("{account} exists already")));
        }
    }
    Ok(accounts)
}

/// Creates the accounts; the result shows the passwords that were made up.
async fn add(service: Arc<AdminService>, ctx: Ctx, answers: Vec<DataForm>) -> Result<Finished, StanzaError> {
    let accounts = new_accounts(&service, &ctx, &answers).await?;
    let mut made_up = Vec::new();
    for account in &accounts {
        let given = answers[1].fields.iter().find(|f| f.var.as_deref() == Some(account.as_str()));
        let password = match given.and_then(|f| f.values.first()).filter(|p| !p.is_empty()) {
            Some(password) => password.clone(),
            None => {
                let password = rhein_proto::xml::random_id();
                made_up.push(value(account.as_str(), FieldType::TextSingle, &password));
                password
            }
        };
        service.add_user(&ctx, account, &password).await?;
    }
    let form = (!made_up.is_empty()).then(|| DataForm::new(DataFormType::Result_, ADMIN, made_up));
    Ok(Finished { note: Some(format!("{} accounts added", accounts.len())), form })
}
