//! XEP-0317 hats: labels a room's owners define (URI, title, hue) and give to its users,
//! worn in every presence of theirs in the room. Kept with the room's configuration, so a
//! persistent room keeps its hats; managed with the room's XEP-0050 commands: create (or
//! update), destroy, list, assign, unassign, list-assigned.

use crate::room::Room;
use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_module::commands::{Submitted, session_id, submitted};
use rhein_proto::commands::{Command, Note, NoteKind};
use rhein_proto::form::{field, form};
use rhein_proto::hats::{Hat, Hats};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType, Option_};
use rhein_proto::parsers::disco::Item;
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};
use serde::{Deserialize, Serialize};

const CREATE: &str = "urn:xmpp:hats:commands:create";
const DESTROY: &str = "urn:xmpp:hats:commands:destroy";
const LIST: &str = "urn:xmpp:hats:commands:list";
const ASSIGN: &str = "urn:xmpp:hats:commands:assign";
const UNASSIGN: &str = "urn:xmpp:hats:commands:unassign";
const LIST_ASSIGNED: &str = "urn:xmpp:hats:commands:list-assigned";
/// Hats one room defines at most.
const MAX_HATS: usize = 100;

/// A hat the room defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HatDef {
    pub uri: String,
    pub title: String,
    pub hue: Option<String>,
}

/// Whether a command node is one of the hats commands.
pub(crate) fn is_hats_command(node: &str) -> bool {
    node.starts_with("urn:xmpp:hats:commands:")
}

/// The hats `who` wears in `room`, for its presence; `None` when it wears none.
pub(crate) fn worn(room: &Room, who: &BareJid) -> Option<Element> {
    let uris = room.config.hat_wearers.get(who.as_str())?;
    let hats: Vec<Hat> = room
        .config
        .hats
        .iter()
        .filter(|h| uris.contains(&h.uri))
        .map(|h| Hat { uri: h.uri.clone(), title: h.title.clone(), hue: h.hue.clone() })
        .collect();
    (!hats.is_empty()).then(|| Hats { hats }.into())
}

/// The hats commands `from` may run: listing for anyone in the room or affiliated with it,
/// the rest for owners.
pub(crate) fn commands(room: &Room, from: &FullJid, owner: bool) -> Vec<Item> {
    let sees = owner || room.by_session(from).is_some();
    let nodes: &[(&str, &str)] = match (owner, sees) {
        (true, _) => &[
            (CREATE, "Create or update a hat"),
            (DESTROY, "Destroy a hat"),
            (LIST, "List the hats"),
            (ASSIGN, "Give someone a hat"),
            (UNASSIGN, "Take a hat from someone"),
            (LIST_ASSIGNED, "Who wears which hat"),
        ],
        (false, true) => &[(LIST, "List the hats"), (LIST_ASSIGNED, "Who wears which hat")],
        (false, false) => &[],
    };
    nodes
        .iter()
        .map(|(node, name)| Item {
            jid: Jid::from(room.jid.clone()),
            node: Some((*node).into()),
            name: Some((*name).into()),
        })
        .collect()
}

impl Muc {
    /// One step of a hats command: its form first, then what the submitted form asks.
    pub(crate) async fn hats_command(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        from: &FullJid,
        owner: bool,
        command: Command,
    ) -> Result<Command, StanzaError> {
        let node = command.node.clone();
        let session = command.sessionid.clone().unwrap_or_else(session_id);
        let listing = node == LIST || node == LIST_ASSIGNED;
        let may = owner || (listing && room.by_session(from).is_some());
        if !may {
            return Err(StanzaError::forbidden().with_text("only the room's owners manage its hats"));
        }
        let Some(submitted) = submitted(&command) else {
            return match node.as_str() {
                LIST => Ok(done(&node, session, None, vec![hat_list(room)])),
                LIST_ASSIGNED => Ok(done(&node, session, None, vec![wearer_list(room)])),
                _ => Ok(ask(&node, session, self.form_for(&node, room)?)),
            };
        };
        let note = match node.as_str() {
            CREATE | DESTROY => {
                // Whoever wears the hat shows the change.
                let hat = submitted.required("hats#uri")?.trim().to_owned();
                let wearers: Vec<BareJid> = (room.config.hat_wearers.iter())
                    .filter(|(_, worn)| worn.contains(&hat))
                    .filter_map(|(who, _)| BareJid::new(who).ok())
                    .collect();
                let note =
                    if node == CREATE { create(room, &submitted)? } else { destroy(room, uri(&submitted, room)?) };
                for who in wearers {
                    show(out, room, &who);
                }
                note
            }
            ASSIGN | UNASSIGN => {
                let who = wearer(&submitted)?;
                let uri = uri(&submitted, room)?;
                let worn = room.config.hat_wearers.entry(who.to_string()).or_default();
                let changed = if node == ASSIGN { worn.insert(uri.clone()) } else { worn.remove(&uri) };
                room.config.hat_wearers.retain(|_, hats| !hats.is_empty());
                if changed {
                    show(out, room, &who);
                }
                format!("{who} {} {uri}", if node == ASSIGN { "wears" } else { "no longer wears" })
            }
            LIST | LIST_ASSIGNED => return Ok(done(&node, session, None, vec![])),
            _ => return Err(StanzaError::item_not_found().with_text("no such command")),
        };
        self.save(ctx, room).await?;
        Ok(done(&node, session, Some(note), vec![]))
    }

    fn form_for(&self, node: &str, room: &Room) -> Result<DataForm, StanzaError> {
        let fields = match node {
            CREATE => vec![
                required(Field::new("hats#title", FieldType::TextSingle), "Hat Title"),
                required(Field::new("hats#uri", FieldType::TextSingle), "Hat URI"),
                labelled(Field::new("hats#hue", FieldType::TextSingle), "Hat Hue"),
            ],
            DESTROY => vec![hat_choice(room, "hats#uri")],
            ASSIGN | UNASSIGN => {
                vec![
                    required(Field::new("hats#jid", FieldType::JidSingle), "User Address"),
                    hat_choice(room, "hats#uri"),
                ]
            }
            _ => return Err(StanzaError::item_not_found().with_text("no such command")),
        };
        Ok(DataForm::new(DataFormType::Form, ns::HATS_COMMANDS, fields))
    }
}

/// §3.2: a new hat, or new words for one (its wearers' presence is refreshed by the next
/// presence they send).
fn create(room: &mut Room, submitted: &Submitted<'_>) -> Result<String, StanzaError> {
    let uri = submitted.required("hats#uri")?.trim().to_owned();
    let title = submitted.required("hats#title")?.trim().to_owned();
    let hue = submitted.value("hats#hue").map(|h| h.trim().to_owned());
    if let Some(hue) = &hue
        && hue.parse::<f32>().map_or(true, |h| !(0.0..360.0).contains(&h))
    {
        return Err(StanzaError::bad_request().with_text("hats#hue is an angle from 0 to 360"));
    }
    let count = room.config.hats.len();
    match room.config.hats.iter_mut().find(|h| h.uri == uri) {
        Some(existing) => {
            existing.title = title;
            existing.hue = hue;
            Ok(format!("{uri} updated"))
        }
        None if count >= MAX_HATS => {
            Err(StanzaError::not_allowed().with_text(format!("a room has at most {MAX_HATS} hats")))
        }
        None => {
            room.config.hats.push(HatDef { uri: uri.clone(), title, hue });
            Ok(format!("{uri} created"))
        }
    }
}

/// §3.3: the hat goes, from everyone who wore it.
fn destroy(room: &mut Room, uri: String) -> String {
    room.config.hats.retain(|h| h.uri != uri);
    for worn in room.config.hat_wearers.values_mut() {
        worn.remove(&uri);
    }
    room.config.hat_wearers.retain(|_, hats| !hats.is_empty());
    format!("{uri} destroyed")
}

/// Sends the presence of `who`'s occupant (if in the room) to everyone, with its hats.
fn show(out: &mut Outbox, room: &Room, who: &BareJid) {
    for occ in room.occupants.iter().filter(|o| o.bare == *who) {
        crate::occupants::presence_to_room(out, room, occ, |viewer| {
            crate::occupants::presence_of(room, occ, viewer, false, &[], None)
        });
    }
}

/// The hat a form names, which the room must define.
fn uri(submitted: &Submitted<'_>, room: &Room) -> Result<String, StanzaError> {
    let uri = submitted.required("hats#uri")?.trim().to_owned();
    match room.config.hats.iter().any(|h| h.uri == uri) {
        true => Ok(uri),
        false => Err(StanzaError::item_not_found().with_text(format!("the room has no hat {uri}"))),
    }
}

/// The user a form names (by bare JID: hats are a user's, not a client's).
fn wearer(submitted: &Submitted<'_>) -> Result<BareJid, StanzaError> {
    let jid = submitted.required("hats#jid")?.trim();
    Jid::new(jid)
        .map(|j| j.to_bare())
        .map_err(|_| StanzaError::jid_malformed().with_text(format!("{jid:?} is not a JID")))
}

fn required(field: Field, label: &str) -> Field {
    let mut field = labelled(field, label);
    field.required = true;
    field
}

fn labelled(mut field: Field, label: &str) -> Field {
    field.label = Some(label.to_owned());
    field
}

/// A list of the room's hats to choose one from.
fn hat_choice(room: &Room, var: &str) -> Field {
    let mut field = required(Field::new(var, FieldType::ListSingle), "The hat");
    field.options =
        room.config.hats.iter().map(|h| Option_ { label: Some(h.title.clone()), value: h.uri.clone() }).collect();
    field
}

/// §3.4: the room's hats, a reported result (one item per hat).
fn hat_list(room: &Room) -> Element {
    let items = room.config.hats.iter().map(|h| {
        vec![
            ("hats#title", h.title.as_str()),
            ("hats#uri", h.uri.as_str()),
            ("hats#hue", h.hue.as_deref().unwrap_or("")),
        ]
    });
    reported("Hats List", &["hats#title", "hats#uri", "hats#hue"], items)
}

/// §3.7: who wears which hat.
fn wearer_list(room: &Room) -> Element {
    let mut rows = Vec::new();
    for (who, uris) in &room.config.hat_wearers {
        for hat in room.config.hats.iter().filter(|h| uris.contains(&h.uri)) {
            rows.push(vec![
                ("hats#jid", who.as_str()),
                ("hats#uri", hat.uri.as_str()),
                ("hats#title", hat.title.as_str()),
                ("hats#hue", hat.hue.as_deref().unwrap_or("")),
            ]);
        }
    }
    reported("Assigned Hats List", &["hats#jid", "hats#uri", "hats#title", "hats#hue"], rows.into_iter())
}

/// A result form with `<reported/>` columns and one `<item/>` per row (XEP-0004 §3.4), which
/// xmpp-parsers' forms do not model.
fn reported<'a>(title: &str, columns: &[&str], rows: impl Iterator<Item = Vec<(&'a str, &'a str)>>) -> Element {
    let mut x = form("result", ns::HATS_COMMANDS);
    x.append_child(xml::text_el("title", ns::DATA, title));
    let mut reported = Element::bare("reported", ns::DATA);
    for column in columns {
        reported.append_child(xml::with_attr(Element::bare("field", ns::DATA), "var", *column));
    }
    x.append_child(reported);
    for row in rows {
        let mut item = Element::bare("item", ns::DATA);
        for (var, value) in row {
            item.append_child(field(var, "text-single", &[value]));
        }
        x.append_child(item);
    }
    x
}

fn ask(node: &str, session: String, form: DataForm) -> Command {
    Command::executing(node, session, form)
}

fn done(node: &str, session: String, note: Option<String>, payloads: Vec<Element>) -> Command {
    let mut answer = Command::completed(node, Some(session), None);
    answer.notes.extend(note.map(|text| Note { kind: Some(NoteKind::Info), text }));
    answer.payloads = payloads;
    answer
}
