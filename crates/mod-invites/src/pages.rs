//! The landing page of an invitation (`/invite/TOKEN`, XEP-0401 §3.3): who invites, the
//! `xmpp:` link and its QR code, apps to install, and for an account invitation a form that
//! creates the account through the same path as in-band registration. Server-rendered, no
//! script. The form is protected by its token and a same-site cookie that must match a
//! hidden field, and attempts are counted per address.

use crate::strings::Strings;
use crate::{Client, Invites, Registration, links};
use askama::Template;
use rhein_module::Ctx;
use rhein_module::web::{WebMethod, WebRequest, WebResponse};
use rhein_storage::{Invite, InviteKind, Refused};
use std::sync::Arc;

/// Form submissions one address may make in the counting period.
const ATTEMPTS: u32 = 10;
const COOKIE: &str = "rhein_form";

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    lang: &'a str,
    title: String,
    intro: String,
    with_app: String,
    open_app: String,
    uri: String,
    qr: String,
    scan: String,
    get_app: String,
    clients: &'a [Client],
    form: Option<Form>,
    host: &'a str,
    expires: String,
}

struct Form {
    heading: String,
    csrf: String,
    username_label: String,
    username: String,
    username_fixed: bool,
    username_fixed_hint: String,
    password_label: String,
    password_hint: String,
    password_again_label: String,
    min_password: usize,
    error: Option<String>,
    submit: String,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage<'a> {
    lang: &'a str,
    title: String,
    your_address: String,
    jid: String,
    how_to_log_in: String,
    contact: Option<String>,
    uri: String,
    open_app: String,
    webchat: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "unusable.html")]
struct UnusablePage<'a> {
    lang: &'a str,
    title: String,
    reason: String,
}

/// Serves `/invite/…`.
pub(crate) async fn serve(m: Arc<Invites>, ctx: Ctx, request: WebRequest) -> WebResponse {
    let strings = Strings::pick(&request.languages());
    let token = request.path.strip_prefix("/invite/").unwrap_or_default();
    // Tokens are hex; anything else names no invite (and is never echoed into a page).
    let invite = if !token.is_empty() && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        match ctx.db.invites().find(token).await {
            Ok(invite) => invite,
            Err(e) => {
                tracing::error!(error = %e, "storage failure");
                return WebResponse::html(500, String::from("storage failure"));
            }
        }
    } else {
        None
    };
    let invite = match invite.filter(|i| i.kind != InviteKind::Room) {
        None => return unusable(&strings, Refused::Unknown),
        Some(i) => match i.refusal(rhein_storage::now_ms()) {
            Some(refused) => return unusable(&strings, refused),
            None => i,
        },
    };
    let visit = Visit { ctx: &ctx, strings: &strings, invite: &invite, token, request: &request };
    match request.method {
        WebMethod::Get | WebMethod::Head => m.landing(&visit, None),
        WebMethod::Post => m.submit(&visit).await,
        WebMethod::Other => {
            WebResponse::html(405, String::from("method not allowed")).with_header("allow", "GET, HEAD, POST".into())
        }
    }
}

pub(crate) fn render(status: u16, page: impl Template) -> WebResponse {
    match page.render() {
        Ok(html) => WebResponse::html(status, html),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            WebResponse::html(500, String::from("the page did not render"))
        }
    }
}

fn unusable(strings: &Strings, refused: Refused) -> WebResponse {
    let (status, key) = match refused {
        Refused::Expired => (410, "unusable_expired"),
        Refused::UsedUp => (410, "unusable_used_up"),
        Refused::Revoked => (410, "unusable_revoked"),
        Refused::Unknown | Refused::WrongKind => (404, "unusable_unknown"),
    };
    let page =
        UnusablePage { lang: strings.lang, title: strings.get("unusable_title", &[]), reason: strings.get(key, &[]) };
    render(status, page)
}

/// A moment as people read it: `2026-12-14 02:47 UTC`.
fn readable_date(ms: i64) -> String {
    let stamp = rhein_proto::time::datetime(ms);
    match (stamp.get(..10), stamp.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => stamp,
    }
}

/// An SVG drawing of a QR code of `text`, to put inline in a page.
pub(crate) fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build();
            // Inline in HTML, the XML declaration has no place.
            match svg.find("<svg") {
                Some(start) => svg[start..].to_owned(),
                None => svg,
            }
        }
        Err(_) => String::new(),
    }
}

/// A request for the page of a usable invite, in the visitor's language.
struct Visit<'a> {
    ctx: &'a Ctx,
    strings: &'a Strings,
    invite: &'a Invite,
    token: &'a str,
    request: &'a WebRequest,
}

impl Invites {
    /// The page, with a fresh form secret (set as a cookie too) and, after a refused
    /// submission, the username given and what was wrong.
    fn landing(&self, visit: &Visit<'_>, error: Option<(String, String)>) -> WebResponse {
        let Visit { strings, invite, token, request, .. } = *visit;
        let host = invite.host.as_str();
        let uri = links::uri(invite, token);
        let inviter = invite.creator.as_deref();
        let title = match inviter {
            Some(inviter) => strings.get("invited_by", &[("inviter", inviter)]),
            None => strings.get("invited", &[("host", host)]),
        };
        let csrf = rhein_proto::xml::random_id();
        let registers = invite.kind.registers() && self.config.get().registration != Registration::Closed;
        let (username, error) = error.map(|(u, e)| (u, Some(e))).unwrap_or_default();
        let form = registers.then(|| {
            let min = self.config.get().min_password_length.max(1).to_string();
            Form {
                heading: strings.get("register_here", &[]),
                csrf: csrf.clone(),
                username_label: strings.get("username", &[]),
                username: invite.username.clone().unwrap_or(username),
                username_fixed: invite.username.is_some(),
                username_fixed_hint: strings.get("username_fixed", &[]),
                password_label: strings.get("password", &[]),
                password_hint: strings.get("password_hint", &[("min", &min)]),
                password_again_label: strings.get("password_again", &[]),
                min_password: self.config.get().min_password_length.max(1),
                error,
                submit: strings.get("create_account", &[]),
            }
        });
        let page = InvitePage {
            lang: strings.lang,
            title,
            intro: strings.get("intro", &[("host", host)]),
            with_app: strings.get("with_app", &[]),
            open_app: strings.get("open_app", &[]),
            qr: qr_svg(&uri),
            uri,
            scan: strings.get("scan", &[]),
            get_app: strings.get("get_app", &[]),
            clients: &self.config.get().clients,
            form,
            host,
            expires: strings.get("expires", &[("date", &readable_date(invite.expires_at))]),
        };
        let secure = if request.secure { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={csrf}; Path=/invite/; HttpOnly; SameSite=Strict{secure}");
        render(200, page).with_header("set-cookie", cookie)
    }

    /// A submitted form: the account, or the page again saying what was wrong.
    async fn submit(&self, visit: &Visit<'_>) -> WebResponse {
        let Visit { ctx, strings, invite, token, request } = *visit;
        let form = request.form();
        let field = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default();
        let username = invite.username.clone().unwrap_or_else(|| field("username").trim().to_owned());
        let again = |error: String| self.landing(visit, Some((username.clone(), error)));
        if self.page_attempts.count(crate::recent::address_key(request.peer)) > ATTEMPTS {
            return again(strings.get("too_many", &[]));
        }
        let secret = field("csrf");
        if secret.is_empty() || request.cookie(COOKIE) != Some(secret) {
            return again(strings.get("form_expired", &[]));
        }
        if field("password") != field("password2") {
            return again(strings.get("passwords_differ", &[]));
        }
        match self.create_account(ctx, &invite.host, &username, field("password"), Some(token), request.peer).await {
            Ok((account, used)) => {
                let contact = used
                    .and_then(|i| i.creator.filter(|_| i.subscribe))
                    .map(|inviter| strings.get("contact_added", &[("inviter", &inviter)]));
                let page = WelcomePage {
                    lang: strings.lang,
                    title: strings.get("welcome_title", &[("host", &invite.host)]),
                    your_address: strings.get("your_address", &[]),
                    jid: account.to_string(),
                    how_to_log_in: strings.get("how_to_log_in", &[]),
                    contact,
                    uri: format!("xmpp:{account}"),
                    open_app: strings.get("open_app", &[]),
                    webchat: (self.config.get().webchat_url)
                        .clone()
                        .or_else(|| ctx.server.webchat_url())
                        .map(|url| (url, strings.get("webchat", &[]))),
                };
                render(201, page)
            }
            Err(error) => again(error.text.unwrap_or_else(|| error.condition.replace('-', " "))),
        }
    }
}
