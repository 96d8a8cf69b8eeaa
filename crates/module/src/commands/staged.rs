//! Commands in stages (XEP-0050 §3.4, §4.4): each stage is a form built from the answers to
//! the stages before it; the requester moves `next` and `prev` (its earlier answers shown
//! again) and completes at the last stage. The layer keeps each session's answers, for the
//! requester that started it only, and forgets sessions left alone.

use super::Finished;
use crate::registry::BoxFuture;
use crate::{Ctx, Iq};
use rhein_proto::commands::{Action, Actions, Command, Note, NoteKind, Status};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType};
use rhein_proto::{Element, Jid, StanzaError, ns};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A session left alone this long is forgotten (`session-expired`).
const SESSION_TTL: Duration = Duration::from_secs(600);
/// Sessions kept at most per command; the oldest go first.
const MAX_SESSIONS: usize = 1024;

/// Builds a stage's form from the answers so far (one submitted form per earlier stage).
pub type StageForm = Arc<dyn Fn(Ctx, Vec<DataForm>) -> BoxFuture<'static, Result<DataForm, StanzaError>> + Send + Sync>;
/// Carries the command out with every stage's answer.
pub type Finish = Arc<dyn Fn(Ctx, Vec<DataForm>) -> BoxFuture<'static, Result<Finished, StanzaError>> + Send + Sync>;

/// The stages of a command and what completing it does.
pub struct Stages {
    pub(crate) forms: Vec<StageForm>,
    pub(crate) finish: Finish,
}

impl Stages {
    /// Stages that end by running `finish`.
    pub fn new<F, Fut>(finish: F) -> Self
    where
        F: Fn(Ctx, Vec<DataForm>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Finished, StanzaError>> + Send + 'static,
    {
        Self { forms: Vec::new(), finish: Arc::new(move |ctx, answers| Box::pin(finish(ctx, answers))) }
    }

    /// Adds a stage whose form `form` builds from the answers before it.
    pub fn stage<F, Fut>(mut self, form: F) -> Self
    where
        F: Fn(Ctx, Vec<DataForm>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<DataForm, StanzaError>> + Send + 'static,
    {
        self.forms.push(Arc::new(move |ctx, answers| Box::pin(form(ctx, answers))));
        self
    }
}

/// Where one requester's run of the command stands.
#[derive(Clone)]
struct Session {
    owner: Jid,
    stage: usize,
    /// The submitted form of each stage reached (the current one's once it is submitted).
    answers: Vec<DataForm>,
    touched: Instant,
}

/// A staged command as registered: its stages and its sessions.
pub(crate) struct Staged {
    node: &'static str,
    stages: Stages,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Staged {
    pub(crate) fn new(node: &'static str, stages: Stages) -> Self {
        Self { node, stages, sessions: Mutex::default() }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a session its requester canceled.
    pub(crate) fn cancel(&self, requester: &Jid, id: &str) {
        let mut sessions = self.sessions();
        if sessions.get(id).is_some_and(|s| s.owner == *requester) {
            sessions.remove(id);
        }
    }

    /// One step: start, move between stages, or complete.
    pub(crate) async fn step(self: Arc<Self>, ctx: Ctx, iq: Iq<Command>) -> Result<Command, StanzaError> {
        let request = iq.payload;
        let Some(id) = request.sessionid.clone() else {
            if request.action() != Action::Execute {
                return Err(error(StanzaError::bad_request(), "malformed-action", "a command starts with execute"));
            }
            let form = (self.stages.forms[0])(ctx, Vec::new()).await?;
            let id = super::session_id();
            self.keep(id.clone(), Session { owner: iq.from, stage: 0, answers: Vec::new(), touched: Instant::now() });
            return Ok(self.stage_answer(id, 0, form));
        };
        let mut session = self.current(&iq.from, &id)?;
        let last = self.stages.forms.len() - 1;
        let action = match request.action() {
            Action::Execute if session.stage < last => Action::Next,
            Action::Execute => Action::Complete,
            other => other,
        };
        // The step works on a copy: a refused one leaves the session as it was.
        match action {
            Action::Prev if session.stage > 0 => session.stage -= 1,
            Action::Next | Action::Complete if (action == Action::Complete) == (session.stage == last) => {
                session.answers.truncate(session.stage);
                session.answers.push(submitted(request.form)?);
                if action == Action::Complete {
                    // Out of the table while it runs: a second complete finds no session.
                    let Some(taken) = self.sessions().remove(&id) else {
                        return Err(error(StanzaError::bad_request(), "bad-sessionid", "no such session of yours"));
                    };
                    return match (self.stages.finish)(ctx, session.answers).await {
                        Ok(finished) => Ok(self.completed(id, finished)),
                        Err(e) => {
                            // Refused: back where it was, to be answered again.
                            self.keep(id, taken);
                            Err(e)
                        }
                    };
                }
                session.stage += 1;
            }
            _ => return Err(error(StanzaError::bad_request(), "bad-action", "not at this stage")),
        }
        let form = self.show(&ctx, &session).await?;
        let stage = session.stage;
        self.update(id.clone(), session);
        Ok(self.stage_answer(id, stage, form))
    }

    /// The form of the session's stage, filled in with what was answered there before.
    async fn show(&self, ctx: &Ctx, session: &Session) -> Result<DataForm, StanzaError> {
        let before = session.answers[..session.stage.min(session.answers.len())].to_vec();
        let mut form = (self.stages.forms[session.stage])(ctx.clone(), before).await?;
        if let Some(answer) = session.answers.get(session.stage) {
            for field in &mut form.fields {
                if let Some(given) = answer.fields.iter().find(|f| f.var.is_some() && f.var == field.var) {
                    field.values = given.values.clone();
                }
            }
        }
        Ok(form)
    }

    /// Writes a session's new state back, unless it was canceled or completed meanwhile.
    fn update(&self, id: String, mut session: Session) {
        session.touched = Instant::now();
        if let Some(kept) = self.sessions().get_mut(&id) {
            *kept = session;
        }
    }

    fn keep(&self, id: String, mut session: Session) {
        session.touched = Instant::now();
        let mut sessions = self.sessions();
        sessions.retain(|_, s| s.touched.elapsed() < SESSION_TTL);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.touched).map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id, session);
    }

    /// A copy of the requester's session `id`.
    fn current(&self, requester: &Jid, id: &str) -> Result<Session, StanzaError> {
        let mut sessions = self.sessions();
        match sessions.get(id) {
            Some(s) if s.owner == *requester && s.touched.elapsed() < SESSION_TTL => Ok(s.clone()),
            Some(s) if s.owner == *requester => {
                sessions.remove(id);
                Err(error(StanzaError::not_allowed(), "session-expired", "the session expired"))
            }
            _ => Err(error(StanzaError::bad_request(), "bad-sessionid", "no such session of yours")),
        }
    }

    fn stage_answer(&self, id: String, stage: usize, form: DataForm) -> Command {
        let last = stage + 1 == self.stages.forms.len();
        let actions = Actions {
            execute: Some(if last { Action::Complete } else { Action::Next }),
            prev: stage > 0,
            next: !last,
            complete: last,
        };
        let mut answer = Command::executing(self.node, id, form);
        answer.actions = Some(actions);
        answer
    }

    fn completed(&self, id: String, finished: Finished) -> Command {
        let mut answer = Command::completed(self.node, Some(id), finished.form);
        answer.status = Some(Status::Completed);
        answer.notes.extend(finished.note.map(|text| Note { kind: Some(NoteKind::Info), text }));
        answer
    }
}

/// The form a step submitted; `bad-payload` without one.
fn submitted(form: Option<DataForm>) -> Result<DataForm, StanzaError> {
    form.filter(|f| f.type_ == DataFormType::Submit)
        .ok_or_else(|| error(StanzaError::bad_request(), "bad-payload", "submit the stage's form"))
}

/// A stanza error with XEP-0050's specific condition (§4.6).
fn error(base: StanzaError, condition: &str, text: &str) -> StanzaError {
    base.with_app(Element::bare(condition, ns::COMMANDS)).with_text(text)
}
