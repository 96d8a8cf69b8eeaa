//! SASL on a c2s stream, in both profiles: RFC 6120 §6 (`<auth/>`) and XEP-0388 SASL2
//! (`<authenticate/>`), which also carries XEP-0484 FAST token logins. Runs the mechanism
//! through its challenges; the caller sends `<success/>`, since SASL2 adds inline results to it.

use crate::C2sShared;
use crate::negotiate::next_element;
use crate::request::Login;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_proto::sasl::{Authenticate, UpgradeTask};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{BareJid, Element, StreamErrorCondition as Cond, ns, xml};
use rhein_sasl::{
    Advertised, ChannelBinding, ClientBinding, ClientFirst, Credentials, HtMechanism, Mechanism, PlainRequest,
    SaslError, ScramHash, ScramServer, Upgrade,
};
use rhein_stream::StreamIo;
use std::net::IpAddr;

/// The two SASL profiles: same mechanisms, different wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// RFC 6120 `<auth/>`: success restarts the stream.
    Legacy,
    /// XEP-0388 `<authenticate/>`: no restart, inline features.
    Sasl2,
}

impl Profile {
    pub(crate) fn ns(self) -> &'static str {
        match self {
            Self::Legacy => ns::SASL,
            Self::Sasl2 => ns::SASL2,
        }
    }
}

/// How an exchange ended.
pub(crate) enum AuthOutcome {
    /// Authenticated as this (prepared) local part; `additional` is the mechanism's final
    /// data for `<success/>`; `rotate` names the FAST mechanism of a token due for
    /// rotation (XEP-0484 §3.4), whose successor goes into `<success/>`.
    Success { localpart: String, additional: Option<Vec<u8>>, rotate: Option<HtMechanism> },
    /// `<failure/>` was sent; the client may retry.
    Failed,
    /// The stream broke or misbehaved mid-exchange; it is already closed.
    Broken,
}

/// Who the stream header's `from` says is about to log in (RFC 6120 §4.7.1; XEP-0480 §2
/// asks clients that upgrade to send it): the SCRAM mechanisms and upgrade tasks offered
/// follow the key sets of that account. Only a hint: the login may be for another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// No `from` (or another domain's): SCRAM-SHA-1 and SCRAM-SHA-256, not SCRAM-SHA-512,
    /// which accounts from before it lack and a client would take for a wrong password; and
    /// every upgrade task.
    Nobody,
    /// An account of this host, lacking these upgrades; a name without an account is offered
    /// what an account with every key set is, so the offer does not tell it exists.
    Account { lacks: Vec<Upgrade> },
}

impl Claimed {
    /// The SCRAM hashes whose mechanisms are not offered.
    fn missing_hashes(&self) -> Vec<ScramHash> {
        match self {
            Self::Nobody => vec![ScramHash::Sha512],
            Self::Account { lacks } => lacks.iter().map(|u| u.hash()).collect(),
        }
    }

    /// The upgrade tasks advertised.
    fn upgrades(&self) -> Vec<Upgrade> {
        match self {
            Self::Nobody => Upgrade::ALL.to_vec(),
            Self::Account { lacks } => lacks.clone(),
        }
    }

    /// What `from` (a bare JID) claims, by the account's credentials (kept in memory once
    /// read, like a login's).
    pub(crate) async fn of(shared: &C2sShared, host: &str, from: Option<&str>) -> Self {
        let Some(jid) = from.and_then(|f| rhein_proto::Jid::new(f).ok()).map(|j| j.to_bare()) else {
            return Self::Nobody;
        };
        let (Some(node), true) = (jid.node(), jid.domain().as_str() == host) else { return Self::Nobody };
        match shared.db.accounts().credentials(host, node.as_str()).await {
            Ok(Some(creds)) => Self::Account { lacks: Upgrade::missing(&creds) },
            Ok(None) => Self::Account { lacks: Vec::new() },
            Err(e) => {
                tracing::warn!(error = %e, "credential lookup for the stream's from failed");
                Self::Nobody
            }
        }
    }
}

/// SASL on one stream: what it offers, and what the client showed so far.
pub(crate) struct Offer {
    /// Strongest first.
    pub mechanisms: Vec<Mechanism>,
    /// XEP-0480 upgrade tasks advertised with SASL2.
    pub upgrades: Vec<Upgrade>,
    /// This connection's channel-binding data (what -PLUS and FAST bind to).
    pub binding: ChannelBinding,
    /// What the client's attempts on this stream showed of its channel binding.
    pub client: ClientBinding,
}

impl Offer {
    pub(crate) fn new(shared: &C2sShared, io: &StreamIo, claimed: &Claimed) -> Self {
        let binding = match &shared.config.tls {
            Some(tls) => io.conn().channel_binding(tls),
            None => ChannelBinding::default(),
        };
        let tls = io.conn().is_tls();
        let missing = claimed.missing_hashes();
        let mechanisms = Mechanism::ALL
            .into_iter()
            .filter(|m| m.scram_hash().is_none_or(|h| !missing.contains(&h)))
            .filter(|m| match m {
                m if m.is_plus() => binding.any(),
                Mechanism::Plain => tls,
                _ => tls || !shared.config.require_tls,
            })
            .collect();
        Self { mechanisms, upgrades: claimed.upgrades(), binding, client: ClientBinding::default() }
    }

    /// `<mechanisms/>`, the SASL2 `<authentication/>` with what it can do inline (Bind2 with
    /// what it enables; SM resumption; FAST), and the XEP-0440 channel-binding types; nothing
    /// when no mechanism is offered.
    pub(crate) fn features(&self, shared: &C2sShared) -> Vec<Element> {
        if self.mechanisms.is_empty() {
            return Vec::new();
        }
        let mut m = Element::bare("mechanisms", ns::SASL);
        let mut authentication = Element::bare("authentication", ns::SASL2);
        for mech in &self.mechanisms {
            m.append_child(xml::text_el("mechanism", ns::SASL, mech.name()));
            authentication.append_child(xml::text_el("mechanism", ns::SASL2, mech.name()));
        }
        // Logins may come in TLS 0-RTT early data, with a count (XEP-0484 §3.3).
        let mut fast = xml::with_attr(Element::bare("fast", ns::FAST), "tls-0rtt", "true");
        for ht in HtMechanism::ALL.into_iter().filter(|h| h.available(&self.binding)) {
            fast.append_child(xml::text_el("mechanism", ns::FAST, ht.name()));
        }
        let mut inline = Element::bare("inline", ns::SASL2);
        inline.append_child(crate::bind2::feature(shared));
        inline.append_child(Element::bare("sm", ns::SM));
        inline.append_child(fast);
        authentication.append_child(inline);
        for upgrade in &self.upgrades {
            authentication.append_child(UpgradeTask { name: upgrade.name().to_owned() }.into());
        }
        let mut out = vec![m, authentication];
        if self.binding.any() {
            let mut c = Element::bare("sasl-channel-binding", ns::SASL_CB);
            for t in self.binding.types() {
                c.append_child(xml::with_attr(Element::bare("channel-binding", ns::SASL_CB), "type", t));
            }
            out.push(c);
        }
        out
    }
}

/// `<name>base64</name>` in the profile's namespace (`=` for empty data, RFC 6120 §6.4.2).
pub(crate) fn sasl_el(profile: Profile, name: &str, data: Option<&[u8]>) -> Element {
    match data {
        Some(d) if !d.is_empty() => xml::text_el(name, profile.ns(), B64.encode(d)),
        Some(_) => xml::text_el(name, profile.ns(), "="),
        None => Element::bare(name, profile.ns()),
    }
}

/// SASL2 `<additional-data/>` (base64 of the mechanism's final data).
pub(crate) fn additional_data(data: &[u8]) -> Element {
    xml::text_el("additional-data", ns::SASL2, B64.encode(data))
}

pub(crate) async fn send_failure(io: &mut StreamIo, profile: Profile, err: SaslError, text: Option<&str>) -> bool {
    let mut f = Element::bare("failure", profile.ns());
    // SASL2 keeps the RFC 6120 condition elements (XEP-0388 §2.6.2).
    f.append_child(Element::bare(err.condition(), ns::SASL));
    if let Some(t) = text {
        f.append_child(xml::text_el("text", profile.ns(), t));
    }
    io.send(&f).await.is_ok()
}

/// Decodes SASL payload text (`=` is an empty response, RFC 6120 §6.4.2).
fn decode(text: &str) -> Result<Option<Vec<u8>>, SaslError> {
    match text.trim() {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        t => B64.decode(t).map(Some).map_err(|_| SaslError::IncorrectEncoding),
    }
}

/// Reads the client's next `<response/>`; see [`next_message`].
async fn next_response(io: &mut StreamIo, profile: Profile) -> Result<Vec<u8>, Failure> {
    const EXPECTED: &str = "expected a SASL response";
    let el = next_message(io, profile, "response", EXPECTED).await?;
    decode(&el.text()).map(Option::unwrap_or_default).map_err(|e| Some((e, None)))
}

/// Reads the client's next message of the exchange, `<name/>` in the profile's namespace.
/// Anything else fails the exchange: `<abort/>` as aborted, any other element as a
/// malformed request (the client may start again) with `expected` as the text, and an XML
/// stanza ends the stream too. `Err(None)`: the stream ended (and was answered).
pub(crate) async fn next_message(
    io: &mut StreamIo,
    profile: Profile,
    name: &str,
    expected: &'static str,
) -> Result<Element, Failure> {
    let el = next_element(io).await.ok_or(None)?;
    if el.is(name, profile.ns()) {
        return Ok(el);
    }
    if el.is("abort", profile.ns()) {
        return Err(Some((SaslError::Aborted, None)));
    }
    if StanzaKind::of(&el).is_some() {
        // RFC 6120 §4.3.5: a stanza before authentication ends the stream, with
        // not-authorized; the exchange it broke into is failed first, so the client sees why.
        send_failure(io, profile, SaslError::MalformedRequest, Some(expected)).await;
        io.fail(Cond::NotAuthorized, Some("no stanzas before authentication")).await;
        return Err(None);
    }
    Err(Some((SaslError::MalformedRequest, Some(expected))))
}

/// Runs one SASL exchange that began with `login` (`<auth/>` or `<authenticate/>`).
pub(crate) async fn authenticate(
    shared: &C2sShared,
    io: &mut StreamIo,
    peer: IpAddr,
    host: &str,
    login: &Login,
    offer: &mut Offer,
) -> AuthOutcome {
    let cb = &offer.binding;
    let (profile, name) = (login.profile(), login.mechanism());
    if let Login::Sasl2(request) = login
        && let Some(ht) = HtMechanism::from_name(name).filter(|m| m.available(cb))
    {
        let result = fast(shared, peer, host, request, ht, cb, io.received_early_data()).await;
        count_login(ht.name(), &result);
        return match result {
            // A token proves no password: the account's flag is read here (from memory).
            Ok((localpart, _, _)) if disabled(shared, host, &localpart).await => {
                outcome(send_failure(io, profile, SaslError::AccountDisabled, Some(DISABLED)).await)
            }
            Ok((localpart, proof, rotate)) => {
                shared.throttle.succeeded(&format!("{localpart}@{host}"));
                AuthOutcome::Success { localpart, additional: Some(proof), rotate }
            }
            Err(Some((e, text))) => outcome(send_failure(io, profile, e, text).await),
            Err(None) => AuthOutcome::Broken,
        };
    }
    let Some(mech) = Mechanism::from_name(name).filter(|m| offer.mechanisms.contains(m)) else {
        let err = if name == "PLAIN" && !io.conn().is_tls() {
            SaslError::EncryptionRequired
        } else {
            SaslError::InvalidMechanism
        };
        return outcome(send_failure(io, profile, err, None).await);
    };
    let initial = match decode(login.initial_response()) {
        Ok(Some(d)) => d,
        Ok(None) => {
            // No initial response: an empty challenge asks for it (RFC 6120 §6.4.2).
            if io.send(&sasl_el(profile, "challenge", None)).await.is_err() {
                return AuthOutcome::Broken;
            }
            match next_response(io, profile).await {
                Ok(d) => d,
                Err(Some((e, text))) => return outcome(send_failure(io, profile, e, text).await),
                Err(None) => return AuthOutcome::Broken,
            }
        }
        Err(e) => return outcome(send_failure(io, profile, e, None).await),
    };
    let result = match mech {
        Mechanism::Plain => plain(shared, peer, host, &initial).await,
        _ => scram(shared, io, profile, peer, host, mech, &initial, offer).await,
    };
    count_login(mech.name(), &result);
    match result {
        Ok((localpart, additional)) => {
            shared.throttle.succeeded(&format!("{localpart}@{host}"));
            AuthOutcome::Success { localpart, additional, rotate: None }
        }
        Err(Some((e, text))) => outcome(send_failure(io, profile, e, text).await),
        Err(None) => AuthOutcome::Broken,
    }
}

/// A login that got as far as its mechanism's verdict, for the metrics.
fn count_login<T>(mechanism: &'static str, result: &Result<T, Failure>) {
    use rhein_metrics::{LoginLabels, Outcome, metrics};
    let outcome = match result {
        Ok(_) => Outcome::Ok,
        Err(Some(_)) => Outcome::Failed,
        Err(None) => return,
    };
    metrics().logins.get_or_create(&LoginLabels { mechanism, outcome }).inc();
}

const DISABLED: &str = "this account is disabled";

/// Whether an account that just proved a FAST token was disabled by an administrator (RFC
/// 6120 §6.5.1 `account-disabled`); password logins read the flag with the credentials they
/// verified. Only asked after the proof, so the answer tells nothing to someone without it.
async fn disabled(shared: &C2sShared, host: &str, localpart: &str) -> bool {
    matches!(shared.db.accounts().credentials(host, localpart).await, Ok(Some(c)) if c.disabled)
}

/// The SASL2 user-agent id (XEP-0388 §2.3), which FAST tokens are bound to.
pub(crate) fn user_agent_id(request: &Authenticate) -> Option<&str> {
    request.user_agent.as_ref()?.id.as_deref().filter(|id| !id.is_empty())
}

/// XEP-0484: a login with a token from an earlier login, in one round trip.
async fn fast(
    shared: &C2sShared,
    peer: IpAddr,
    host: &str,
    request: &Authenticate,
    mech: HtMechanism,
    cb: &ChannelBinding,
    early: bool,
) -> Result<(String, Vec<u8>, Option<HtMechanism>), Option<(SaslError, Option<&'static str>)>> {
    let initial = decode(request.initial_response.as_deref().unwrap_or_default())
        .map_err(|e| Some((e, None)))?
        .ok_or(Some((SaslError::MalformedRequest, None)))?;
    let (username, proof) = HtMechanism::parse(&initial).map_err(|e| Some((e, None)))?;
    let client =
        user_agent_id(request).ok_or(Some((SaslError::MalformedRequest, Some("FAST needs a user-agent id"))))?;
    let fast = request.fast.as_ref();
    let count = match fast.and_then(|f| f.count.as_deref()) {
        Some(c) => Some(
            c.trim()
                .parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or(Some((SaslError::MalformedRequest, Some("count is a positive integer"))))?,
        ),
        None => None,
    };
    // §3.3: a login in early data can be replayed by anyone who saw it; the count stops that.
    if early && count.is_none() {
        return Err(Some((SaslError::NotAuthorized, Some("a login in TLS early data needs a count"))));
    }
    let localpart = admit(shared, peer, host, &username, None).map_err(Some)?;
    let owner = format!("{localpart}@{host}");
    let storage = |e: rhein_storage::StorageError| {
        tracing::error!(error = %e, "FAST token lookup failed");
        Some((SaslError::TemporaryAuthFailure, None))
    };
    let tokens =
        shared.db.fast_tokens().valid(&owner, client, mech.name(), rhein_storage::now_ms()).await.map_err(storage)?;
    for (token, expiry) in tokens {
        if let Some(server_proof) = mech.verify(token.as_bytes(), &proof, cb) {
            if let Some(count) = count
                && !shared.db.fast_tokens().advance_count(&owner, client, &token, count).await.map_err(storage)?
            {
                tracing::warn!(account = %owner, "FAST login replayed (count not above the last one)");
                shared.throttle.failed(peer, &owner);
                return Err(Some((SaslError::NotAuthorized, Some("that count was used already"))));
            }
            let invalidate = fast.and_then(|f| f.invalidate.as_deref()).is_some_and(|v| v == "true" || v == "1");
            shared.db.fast_tokens().used(&owner, client, &token, expiry, invalidate).await.map_err(storage)?;
            // Past half its life, a token is replaced at the next login that uses it.
            let due = expiry - rhein_storage::now_ms() < crate::sasl2::TOKEN_LIFETIME_MS / 2;
            return Ok((localpart, server_proof, (due && !invalidate).then_some(mech)));
        }
    }
    shared.throttle.failed(peer, &owner);
    Err(Some((SaslError::NotAuthorized, None)))
}

fn outcome(sent: bool) -> AuthOutcome {
    if sent { AuthOutcome::Failed } else { AuthOutcome::Broken }
}

/// Why an exchange failed, with a text for `<failure/>`; `None` if the stream ended.
pub(crate) type Failure = Option<(SaslError, Option<&'static str>)>;

type Verified = Result<(String, Option<Vec<u8>>), Failure>;

const THROTTLED: &str = "Too many failed attempts; try again later";

/// Checks authzid, throttling and the account; returns the prepared local part.
fn admit(
    shared: &C2sShared,
    peer: IpAddr,
    host: &str,
    username: &str,
    authzid: Option<&str>,
) -> Result<String, (SaslError, Option<&'static str>)> {
    // RFC 6120 §6.3.7: the simple user name is the local part.
    let localpart = rhein_proto::prepare_localpart(username, host).ok_or((SaslError::NotAuthorized, None))?;
    let bare = format!("{localpart}@{host}");
    if let Some(a) = authzid
        && BareJid::new(a).map(|j| j.as_str() != bare).unwrap_or(true)
    {
        return Err((SaslError::InvalidAuthzid, None));
    }
    if !shared.throttle.allowed(peer, &bare) {
        return Err((SaslError::TemporaryAuthFailure, Some(THROTTLED)));
    }
    Ok(localpart)
}

/// The account's credentials, or for a name without an account (`false`) the server's decoy,
/// which the mechanisms check the same way and refuse only at the end: no answer, and no
/// time taken, tells which accounts exist.
async fn credentials(
    shared: &C2sShared,
    host: &str,
    localpart: &str,
) -> Result<(Credentials, bool), (SaslError, Option<&'static str>)> {
    let found = shared.db.accounts().credentials(host, localpart).await.map_err(|e| {
        tracing::error!(error = %e, "credential lookup failed");
        (SaslError::TemporaryAuthFailure, None)
    })?;
    Ok(match found {
        Some(creds) => (creds, true),
        None => (shared.secret.decoy(localpart), false),
    })
}

async fn plain(shared: &C2sShared, peer: IpAddr, host: &str, msg: &[u8]) -> Verified {
    let req = PlainRequest::parse(msg).map_err(|e| Some((e, None)))?;
    let localpart = admit(shared, peer, host, &req.username, req.authzid.as_deref()).map_err(Some)?;
    let (creds, known) = credentials(shared, host, &localpart).await.map_err(Some)?;
    let disabled = creds.disabled;
    let (matches, completed) = {
        let _permit = shared.hash_permits.acquire().await;
        let (password, creds) = (req.password, creds.clone());
        tokio::task::spawn_blocking(move || {
            let matches = creds.verify_password(&password);
            // An imported account lacking key sets or the argon2 hash gets them now,
            // from the password it just proved.
            (matches, matches.then(|| creds.completed(&password)).flatten())
        })
        .await
        .unwrap_or((false, None))
    };
    if !(matches && known) {
        shared.throttle.failed(peer, &format!("{localpart}@{host}"));
        return Err(Some((SaslError::NotAuthorized, None)));
    }
    if disabled {
        return Err(Some((SaslError::AccountDisabled, Some(DISABLED))));
    }
    if let Some(completed) = completed {
        match shared.db.accounts().complete_credentials(host, &localpart, &creds, &completed).await {
            Ok(true) => tracing::info!("credentials completed at a PLAIN login (SCRAM-SHA-256, SCRAM-SHA-512, argon2)"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "completing credentials after a PLAIN login failed"),
        }
    }
    Ok((localpart, None))
}

#[allow(clippy::too_many_arguments)]
async fn scram(
    shared: &C2sShared,
    io: &mut StreamIo,
    profile: Profile,
    peer: IpAddr,
    host: &str,
    mech: Mechanism,
    msg: &[u8],
    offer: &mut Offer,
) -> Verified {
    let cb = &offer.binding;
    let first = ClientFirst::parse(mech, msg, cb, &mut offer.client).map_err(|e| Some((e, None)))?;
    let localpart = admit(shared, peer, host, &first.username, first.authzid.as_deref()).map_err(Some)?;
    let (creds, known) = credentials(shared, host, &localpart).await.map_err(Some)?;
    let advertised = Advertised { mechanisms: &offer.mechanisms, binding: &offer.binding };
    let (server, server_first) = ScramServer::start(first, &creds, known, Some(advertised));
    io.send(&sasl_el(profile, "challenge", Some(&server_first))).await.map_err(|_| None)?;
    let client_final = next_response(io, profile).await?;
    match server.finish(&client_final, cb) {
        Ok(_) if creds.disabled => Err(Some((SaslError::AccountDisabled, Some(DISABLED)))),
        Ok(server_final) => Ok((localpart, Some(server_final))),
        Err(e) => {
            if e == SaslError::NotAuthorized {
                shared.throttle.failed(peer, &format!("{localpart}@{host}"));
            }
            Err(Some((e, None)))
        }
    }
}
