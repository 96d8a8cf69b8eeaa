//! XEP-0480 SASL upgrade tasks: after a SASL2 login that asked for them, the server adds the
//! SCRAM keys the account lacks, one task at a time, before `<success/>`:
//!
//! ```text
//! S: <continue><additional-data/>?<tasks><task>UPGR-SCRAM-SHA-512</task></tasks></continue>
//! C: <next task='UPGR-SCRAM-SHA-512'/>
//! S: <task-data><salt xmlns='urn:xmpp:scram-upgrade:0' iterations='4096'>…</salt></task-data>
//! C: <task-data><hash xmlns='urn:xmpp:scram-upgrade:0'>SaltedPassword</hash></task-data>
//! S: (the keys are stored) the next task's <continue/>, or <success/> (the caller sends it)
//! ```
//!
//! The mechanism's final data goes into the first `<continue/>` (XEP-0388 §2.6.3), not into
//! `<success/>`. A task that fails is a failed login: `<failure/>`, nothing stored by it (a
//! task completed before it stays stored: the keys it added are right either way), and since
//! no `<authenticate/>` may follow a `<continue/>` (XEP-0388 §4.8), the stream ends.
//!
//! Only a password login (SCRAM or PLAIN) runs them: the keys a task stores let whoever knows
//! the SaltedPassword log in with that mechanism, and a FAST token proves no password, so a
//! stolen token must not become a password of its own. After a token login the tasks are
//! skipped and `<success/>` follows; the next password login performs them.

use crate::C2sShared;
use crate::auth::{self, Failure, Profile};
use crate::negotiate::Negotiation;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_proto::sasl::{Authenticate, Continue, Next, SaltedPassword, ScramSalt, TaskData};
use rhein_proto::{Element, StreamErrorCondition as Cond, ns};
use rhein_sasl::{Credentials, Mechanism, SaslError, Upgrade};

/// How the tasks after a login ended.
pub(crate) enum Tasks {
    /// Every task asked for is done (or none was needed); what is left of the mechanism's
    /// final data goes into `<success/>`.
    Done(Option<Vec<u8>>),
    /// A task failed (and `<failure/>` said why) or the stream broke: it is closed.
    Ended,
}

/// Where one task is.
enum Step {
    /// `<continue/>` is to be sent, with the mechanism's final data if it was not yet.
    Offer(Option<Vec<u8>>),
    /// Waiting for the client's `<next/>`.
    AwaitNext,
    /// The salt was sent; waiting for the client's `<task-data/>` with its hash.
    AwaitHash,
    /// The keys are stored.
    Done,
}

const EXPECTED_NEXT: &str = "expected <next/> for the upgrade task";
const EXPECTED_HASH: &str = "expected <task-data/> with the SCRAM upgrade hash";

impl Negotiation {
    /// Runs the upgrade tasks the client asked for in `request` that the account lacks, after
    /// a password login.
    pub(crate) async fn upgrade_tasks(
        &mut self,
        shared: &C2sShared,
        host: &str,
        localpart: &str,
        request: &Authenticate,
        mut additional: Option<Vec<u8>>,
    ) -> Tasks {
        let asked: Vec<Upgrade> = request.upgrades.iter().filter_map(|name| Upgrade::from_name(name)).collect();
        let password_login = Mechanism::from_name(&request.mechanism).is_some();
        if asked.is_empty() || !password_login {
            return Tasks::Done(additional);
        }
        let mut creds = match shared.db.accounts().credentials(host, localpart).await {
            Ok(Some(creds)) => creds,
            Ok(None) => return Tasks::Done(additional),
            Err(e) => {
                tracing::error!(error = %e, "credential lookup for an upgrade task failed");
                return self.failed(Some((SaslError::TemporaryAuthFailure, None))).await;
            }
        };
        for upgrade in Upgrade::missing(&creds).into_iter().filter(|u| asked.contains(u)) {
            let mut step = Step::Offer(additional.take());
            while !matches!(step, Step::Done) {
                step = match self.step(shared, host, localpart, &mut creds, upgrade, step).await {
                    Ok(next) => next,
                    Err(failure) => return self.failed(failure).await,
                };
            }
            tracing::info!(account = %format!("{localpart}@{host}"), task = upgrade.name(), "SCRAM keys upgraded");
        }
        Tasks::Done(additional)
    }

    /// Takes one step of `upgrade`; the step after it, or why the task failed.
    async fn step(
        &mut self,
        shared: &C2sShared,
        host: &str,
        localpart: &str,
        creds: &mut Credentials,
        upgrade: Upgrade,
        step: Step,
    ) -> Result<Step, Failure> {
        match step {
            Step::Offer(additional) => {
                let offer = Continue {
                    additional_data: additional.map(|d| B64.encode(d)),
                    tasks: vec![upgrade.name().to_owned()],
                    text: None,
                };
                self.io.send(&Element::from(offer)).await.map_err(|_| None)?;
                Ok(Step::AwaitNext)
            }
            Step::AwaitNext => {
                let el = auth::next_message(&mut self.io, Profile::Sasl2, "next", EXPECTED_NEXT).await?;
                let next = Next::try_from(el).map_err(|_| Some((SaslError::MalformedRequest, Some(EXPECTED_NEXT))))?;
                if Upgrade::from_name(&next.task) != Some(upgrade) {
                    return Err(Some((SaslError::InvalidMechanism, Some("not the task offered"))));
                }
                let salt = ScramSalt { iterations: creds.iterations, salt: B64.encode(&creds.salt) };
                let data = TaskData { payloads: vec![salt.into()] };
                self.io.send(&Element::from(data)).await.map_err(|_| None)?;
                Ok(Step::AwaitHash)
            }
            Step::AwaitHash => {
                let el = auth::next_message(&mut self.io, Profile::Sasl2, "task-data", EXPECTED_HASH).await?;
                let malformed = Some((SaslError::MalformedRequest, Some(EXPECTED_HASH)));
                let data = TaskData::try_from(el).map_err(|_| malformed)?;
                let hash = data
                    .payloads
                    .into_iter()
                    .find(|p| p.is("hash", ns::SCRAM_UPGRADE))
                    .and_then(|p| SaltedPassword::try_from(p).ok())
                    .ok_or(malformed)?;
                let bad = |e: SaslError| Some((e, Some("the hash is not a SaltedPassword of this task's hash")));
                let keys = upgrade.apply(creds, &hash.hash).map_err(bad)?;
                // Stored before <success/> (or the next task) is sent.
                let stored = shared.db.accounts().add_scram_keys(host, localpart, creds, upgrade.hash(), &keys).await;
                match stored {
                    Ok(true) => Ok(Step::Done),
                    Ok(false) => Err(Some((SaslError::TemporaryAuthFailure, Some("the password changed meanwhile")))),
                    Err(e) => {
                        tracing::error!(error = %e, "storing upgraded SCRAM keys failed");
                        Err(Some((SaslError::TemporaryAuthFailure, None)))
                    }
                }
            }
            Step::Done => Ok(Step::Done),
        }
    }

    async fn failed(&mut self, failure: Failure) -> Tasks {
        if let Some((e, text)) = failure
            && auth::send_failure(&mut self.io, Profile::Sasl2, e, text).await
        {
            self.io.fail(Cond::NotAuthorized, Some("a task after <continue/> failed")).await;
        }
        Tasks::Ended
    }
}
