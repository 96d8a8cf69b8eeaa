//! The landing page of a room (`/join/ROOM`, with `?token=` for a members-only room): what
//! the room says of itself in service discovery (name, description, occupants when it is
//! public, its webchat), its `xmpp:` URI with a QR code, and apps to join it with.

use crate::Invites;
use crate::pages::{qr_svg, render};
use crate::strings::Strings;
use askama::Template;
use rhein_module::Ctx;
use rhein_module::web::{WebRequest, WebResponse, decode};
use rhein_proto::parsers::data_forms::DataForm;
use rhein_proto::parsers::disco::DiscoInfoResult;
use rhein_proto::{BareJid, Element, ns, xml};
use std::sync::Arc;
use std::time::Duration;

#[derive(Template)]
#[template(path = "room.html")]
struct RoomPage<'a> {
    lang: &'a str,
    title: String,
    description: Option<String>,
    occupants: Option<String>,
    with_app: String,
    open_app: String,
    uri: String,
    qr: String,
    scan: String,
    webchat: Option<(String, String)>,
    get_app: String,
    clients: &'a [crate::Client],
}

#[derive(Template)]
#[template(path = "unusable.html")]
struct NoRoom<'a> {
    lang: &'a str,
    title: String,
    reason: String,
}

/// What a room's disco#info says of it.
struct RoomInfo {
    name: Option<String>,
    description: Option<String>,
    occupants: Option<String>,
    webchat: Option<String>,
}

/// Serves `/join/…`.
pub(crate) async fn serve(m: Arc<Invites>, ctx: Ctx, request: WebRequest) -> WebResponse {
    let strings = Strings::pick(&request.languages());
    let room = decode(request.path.strip_prefix("/join/").unwrap_or_default());
    let token = request
        .query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("token=")))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()));
    // Only rooms here: the page must not make the server ask anyone elsewhere.
    let info = match BareJid::new(&room) {
        Ok(jid)
            if jid.node().is_some() && ctx.router.services(&ctx.host).iter().any(|s| s == jid.domain().as_str()) =>
        {
            room_info(&ctx, &jid).await
        }
        _ => None,
    };
    let Some(info) = info else {
        let page = NoRoom {
            lang: strings.lang,
            title: strings.get("unusable_title", &[]),
            reason: strings.get("room_no_such", &[]),
        };
        return render(404, page);
    };
    let uri = match token {
        Some(token) => format!("xmpp:{room}?join;password={token}"),
        None => format!("xmpp:{room}?join"),
    };
    let name = info.name.unwrap_or_else(|| room.clone());
    let page = RoomPage {
        lang: strings.lang,
        title: strings.get("room_title", &[("room", &name)]),
        description: info.description.filter(|d| !d.is_empty()),
        occupants: info.occupants.map(|n| strings.get("room_occupants", &[("count", &n)])),
        with_app: strings.get("with_app", &[]),
        open_app: strings.get("open_app", &[]),
        qr: qr_svg(&uri),
        uri,
        scan: strings.get("scan", &[]),
        webchat: info.webchat.map(|url| (url, strings.get("room_webchat", &[]))),
        get_app: strings.get("get_app", &[]),
        clients: &m.config.get().clients,
    };
    render(200, page)
}

/// Asks the room for its disco#info; `None` if there is no such room (or it does not answer
/// in time). Occupants are shown only for a public room.
async fn room_info(ctx: &Ctx, room: &BareJid) -> Option<RoomInfo> {
    let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "get");
    xml::set_attr(&mut iq, "to", room.as_str());
    xml::set_attr(&mut iq, "from", format!("{}/invites", ctx.host));
    iq.append_child(Element::bare("query", ns::DISCO_INFO));
    let answer = ctx.router.send_iq(iq, Duration::from_secs(5)).await?;
    if answer.attr("type") != Some("result") {
        return None;
    }
    let info = DiscoInfoResult::try_from(answer.get_child("query", ns::DISCO_INFO)?.clone()).ok()?;
    let public = info.features.contains("muc_public");
    let form: Option<&DataForm> =
        info.extensions.iter().find(|f| f.form_type() == Some("http://jabber.org/protocol/muc#roominfo"));
    let field = |var: &str| {
        form.and_then(|f| f.fields.iter().find(|x| x.var.as_deref() == Some(var)))
            .and_then(|x| x.values.first())
            .cloned()
    };
    Some(RoomInfo {
        name: info.identities.first().and_then(|i| i.name.clone()).filter(|n| !n.is_empty()),
        description: field("muc#roominfo_description"),
        occupants: field("muc#roominfo_occupants").filter(|_| public),
        webchat: field("muc#roominfo_webchat_url").filter(|u| u.starts_with("https://") || u.starts_with("http://")),
    })
}
