//! SASL negotiation on a c2s stream (RFC 6120 §6): runs the mechanism chosen in `<auth/>`
//! through its challenges and ends in `<success/>` or `<failure/>`.

use crate::C2sShared;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rhein_proto::{BareJid, Element, ns, xml};
use rhein_sasl::{ChannelBinding, ClientFirst, Credentials, Mechanism, PlainRequest, SaslError, ScramServer};
use rhein_stream::{Frame, StreamIo};
use std::net::IpAddr;

/// How an `<auth/>` exchange ended.
pub(crate) enum AuthOutcome {
    /// Authenticated as this (prepared) local part.
    Success(String),
    /// `<failure/>` was sent; the client may retry.
    Failed,
    /// The stream broke or misbehaved mid-exchange; it is already closed.
    Broken,
}

/// The mechanisms this stream may use, strongest first.
pub(crate) fn offered(shared: &C2sShared, io: &StreamIo, cb: &ChannelBinding) -> Vec<Mechanism> {
    let tls = io.conn().is_tls();
    Mechanism::ALL
        .into_iter()
        .filter(|m| match m {
            m if m.is_plus() => cb.any(),
            Mechanism::Plain => tls,
            _ => tls || !shared.config.require_tls,
        })
        .collect()
}

/// `<mechanisms/>` plus the XEP-0440 channel-binding types.
pub(crate) fn features(mechs: &[Mechanism], cb: &ChannelBinding) -> Vec<Element> {
    let mut m = Element::bare("mechanisms", ns::SASL);
    for mech in mechs {
        m.append_child(xml::text_el("mechanism", ns::SASL, mech.name()));
    }
    let mut out = vec![m];
    if cb.any() {
        let mut c = Element::bare("sasl-channel-binding", ns::SASL_CB);
        for t in cb.types() {
            c.append_child(xml::with_attr(Element::bare("channel-binding", ns::SASL_CB), "type", t));
        }
        out.push(c);
    }
    out
}

fn sasl_el(name: &str, data: Option<&[u8]>) -> Element {
    match data {
        Some(d) if !d.is_empty() => xml::text_el(name, ns::SASL, B64.encode(d)),
        Some(_) => xml::text_el(name, ns::SASL, "="),
        None => Element::bare(name, ns::SASL),
    }
}

async fn send_failure(io: &mut StreamIo, err: SaslError, text: Option<&str>) -> bool {
    let mut f = Element::bare("failure", ns::SASL);
    f.append_child(Element::bare(err.condition(), ns::SASL));
    if let Some(t) = text {
        f.append_child(xml::text_el("text", ns::SASL, t));
    }
    io.send(&f).await.is_ok()
}

/// Decodes SASL payload text (`=` is an empty response, RFC 6120 §6.4.2).
fn decode(el: &Element) -> Result<Option<Vec<u8>>, SaslError> {
    match el.text().trim() {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        t => B64.decode(t).map(Some).map_err(|_| SaslError::IncorrectEncoding),
    }
}

/// Reads the client's next `<response/>` (or `<abort/>`).
async fn next_response(io: &mut StreamIo) -> Result<Vec<u8>, Option<SaslError>> {
    match io.read_frame().await {
        Ok(Frame::Element(el)) if el.is("response", ns::SASL) => {
            decode(&el).map(Option::unwrap_or_default).map_err(Some)
        }
        Ok(Frame::Element(el)) if el.is("abort", ns::SASL) => Err(Some(SaslError::Aborted)),
        _ => Err(None),
    }
}

/// Prepares the SASL username as an XMPP local part of `host` (RFC 6120 §6.3.7: the simple
/// user name is the localpart).
fn local_part(username: &str, host: &str) -> Option<String> {
    let jid = BareJid::new(&format!("{username}@{host}")).ok()?;
    jid.node().map(|n| n.as_str().to_owned())
}

/// Runs one SASL exchange that began with `auth`.
pub(crate) async fn authenticate(
    shared: &C2sShared,
    io: &mut StreamIo,
    peer: IpAddr,
    host: &str,
    auth: &Element,
    mechs: &[Mechanism],
    cb: &ChannelBinding,
) -> AuthOutcome {
    let Some(mech) = auth.attr("mechanism").and_then(Mechanism::from_name).filter(|m| mechs.contains(m)) else {
        let err = if auth.attr("mechanism") == Some("PLAIN") && !io.conn().is_tls() {
            SaslError::EncryptionRequired
        } else {
            SaslError::InvalidMechanism
        };
        return outcome(send_failure(io, err, None).await);
    };
    let initial = match decode(auth) {
        Ok(data) => data,
        Err(e) => return outcome(send_failure(io, e, None).await),
    };
    let initial = match initial {
        Some(d) => d,
        None => {
            // No initial response: an empty challenge asks for it (RFC 6120 §6.4.2).
            if io.send(&sasl_el("challenge", None)).await.is_err() {
                return AuthOutcome::Broken;
            }
            match next_response(io).await {
                Ok(d) => d,
                Err(Some(e)) => return outcome(send_failure(io, e, None).await),
                Err(None) => return AuthOutcome::Broken,
            }
        }
    };
    let result = match mech {
        Mechanism::Plain => plain(shared, peer, host, &initial).await,
        _ => scram(shared, io, peer, host, mech, &initial, cb).await,
    };
    match result {
        Ok((localpart, server_final)) => {
            shared.throttle.succeeded(&format!("{localpart}@{host}"));
            if io.send(&sasl_el("success", server_final.as_deref())).await.is_err() {
                return AuthOutcome::Broken;
            }
            AuthOutcome::Success(localpart)
        }
        Err(Some((e, text))) => outcome(send_failure(io, e, text).await),
        Err(None) => AuthOutcome::Broken,
    }
}

fn outcome(sent: bool) -> AuthOutcome {
    if sent { AuthOutcome::Failed } else { AuthOutcome::Broken }
}

type Verified = Result<(String, Option<Vec<u8>>), Option<(SaslError, Option<&'static str>)>>;

const THROTTLED: &str = "Too many failed attempts; try again later";

/// Checks authzid, throttling and the account; returns the prepared local part.
fn admit(
    shared: &C2sShared,
    peer: IpAddr,
    host: &str,
    username: &str,
    authzid: Option<&str>,
) -> Result<String, (SaslError, Option<&'static str>)> {
    let localpart = local_part(username, host).ok_or((SaslError::NotAuthorized, None))?;
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

async fn credentials(
    shared: &C2sShared,
    host: &str,
    localpart: &str,
) -> Result<Option<Credentials>, (SaslError, Option<&'static str>)> {
    shared.db.accounts().credentials(host, localpart).await.map_err(|e| {
        tracing::error!(error = %e, "credential lookup failed");
        (SaslError::TemporaryAuthFailure, None)
    })
}

async fn plain(shared: &C2sShared, peer: IpAddr, host: &str, msg: &[u8]) -> Verified {
    let req = PlainRequest::parse(msg).map_err(|e| Some((e, None)))?;
    let localpart = admit(shared, peer, host, &req.username, req.authzid.as_deref()).map_err(Some)?;
    let creds = credentials(shared, host, &localpart).await.map_err(Some)?;
    let ok = match creds {
        Some(c) => {
            let _permit = shared.hash_permits.acquire().await;
            let password = req.password;
            tokio::task::spawn_blocking(move || c.verify_password(&password)).await.unwrap_or(false)
        }
        None => false,
    };
    if !ok {
        shared.throttle.failed(peer, &format!("{localpart}@{host}"));
        return Err(Some((SaslError::NotAuthorized, None)));
    }
    Ok((localpart, None))
}

async fn scram(
    shared: &C2sShared,
    io: &mut StreamIo,
    peer: IpAddr,
    host: &str,
    mech: Mechanism,
    msg: &[u8],
    cb: &ChannelBinding,
) -> Verified {
    let first = ClientFirst::parse(mech, msg, cb).map_err(|e| Some((e, None)))?;
    let localpart = admit(shared, peer, host, &first.username, first.authzid.as_deref()).map_err(Some)?;
    let creds = credentials(shared, host, &localpart).await.map_err(Some)?;
    let (server, server_first) = ScramServer::start(first, creds.as_ref());
    io.send(&sasl_el("challenge", Some(&server_first))).await.map_err(|_| None)?;
    let client_final = match next_response(io).await {
        Ok(d) => d,
        Err(e) => return Err(e.map(|e| (e, None))),
    };
    match server.finish(&client_final, cb) {
        Ok(server_final) => Ok((localpart, Some(server_final))),
        Err(e) => {
            if e == SaslError::NotAuthorized {
                shared.throttle.failed(peer, &format!("{localpart}@{host}"));
            }
            Err(Some((e, None)))
        }
    }
}
