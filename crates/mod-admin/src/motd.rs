//! XEP-0133 §4.12–§4.14: the host's message of the day, set, edited and deleted by its
//! administrators, and sent to every session as it binds. Kept in storage as a document of
//! the host (owner: its domain) and in memory once read, so a login costs no query.

use crate::service::AdminError;
use crate::{Done, Run, field};
use rhein_module::Ctx;
use rhein_proto::StanzaError;
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::FieldType;
use std::collections::HashMap;
use std::sync::Mutex;

const KIND: &str = "motd";

/// Each host's message of the day, once read (`None`: there is none).
#[derive(Default)]
pub(crate) struct Motd(Mutex<HashMap<String, Option<String>>>);

impl Motd {
    fn kept(&self, host: &str) -> Option<Option<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(host).cloned()
    }

    fn keep(&self, host: &str, text: Option<String>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(host.to_owned(), text);
    }

    pub(crate) async fn get(&self, ctx: &Ctx) -> Result<Option<String>, AdminError> {
        if let Some(kept) = self.kept(&ctx.host) {
            return Ok(kept);
        }
        let text = ctx.db.account_data().get(&ctx.host, KIND, "").await?;
        self.keep(&ctx.host, text.clone());
        Ok(text)
    }

    pub(crate) async fn set(&self, ctx: &Ctx, text: Option<String>) -> Result<(), AdminError> {
        let data = ctx.db.account_data();
        match &text {
            Some(text) => data.put_all(&ctx.host, KIND, &[(String::new(), text.clone())]).await?,
            None => drop(data.remove(&ctx.host, KIND, "").await?),
        }
        self.keep(&ctx.host, text);
        Ok(())
    }
}

/// §4.12 Set Message of the Day, and §4.13 Edit (the same, with the current one filled in).
pub(crate) async fn set(run: Run) -> Result<Command, StanzaError> {
    let Some(submitted) = run.submitted() else {
        let mut text = field("motd", FieldType::TextMulti, "Message of the day", true);
        if let Some(current) = run.service.motd(&run.ctx).await? {
            text.values = current.lines().map(str::to_owned).collect();
        }
        return Ok(run.ask("Setting the message of the day", vec![text]));
    };
    let text = submitted.values("motd").join("\n");
    if text.trim().is_empty() {
        return Err(StanzaError::bad_request().with_text("the field motd is required"));
    }
    run.service.set_motd(&run.ctx, Some(text)).await?;
    Ok(run.done(Done::Note("the message of the day is set".into())))
}

/// §4.14 Delete Message of the Day.
pub(crate) async fn delete(run: Run) -> Result<Command, StanzaError> {
    run.service.set_motd(&run.ctx, None).await?;
    Ok(run.done(Done::Note("the message of the day is deleted".into())))
}
