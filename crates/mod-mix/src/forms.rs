//! The information form (XEP-0369 §5.3.3) and the configuration form (XEP-0406 §4.3): as
//! items, as forms to fill in, and read back from a submission.

use crate::channel::{ChannelConfig, Info, Level, Visibility};
use rhein_proto::form::{bit, boolean, field, form, options, submitted};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};

/// The information node's item (`result`) or the form to change it (`form`).
pub(crate) fn info_form(info: &Info, kind: &str) -> Element {
    let mut x = form(kind, ns::MIX_CORE);
    if kind == "form" {
        x.append_child(xml::text_el("title", ns::DATA, "Information Node Modification"));
    }
    x.append_child(labelled(field("Name", "text-single", &[&info.name]), "Channel Name"));
    x.append_child(labelled(field("Description", "text-single", &[&info.description]), "Channel Description"));
    let contacts: Vec<&str> = info.contacts.iter().map(String::as_str).collect();
    x.append_child(labelled(field("Contact", "jid-multi", &contacts), "Channel Administrative Contact"));
    x
}

fn labelled(mut f: Element, label: &str) -> Element {
    xml::set_attr(&mut f, "label", label);
    f
}

/// The information held in an item (`id` is when it was published).
pub(crate) fn read_info(form: &Element, id: &str) -> Info {
    let mut info = Info { modified: id.to_owned(), ..Info::default() };
    for (var, values) in submitted(form) {
        match var {
            "Name" => info.name = values.join("\n"),
            "Description" => info.description = values.join("\n"),
            "Contact" => info.contacts = values,
            _ => {}
        }
    }
    info
}

/// Applies a submitted information form: fields present replace, others stay.
pub(crate) fn apply_info(info: &mut Info, submission: &Element) -> Result<(), StanzaError> {
    for (var, values) in submitted(submission) {
        match var {
            "Name" => info.name = values.join("\n"),
            "Description" => info.description = values.join("\n"),
            "Contact" => {
                for v in &values {
                    BareJid::new(v).map_err(|_| StanzaError::jid_malformed().with_text("Contact takes JIDs"))?;
                }
                info.contacts = values;
            }
            _ => {}
        }
    }
    Ok(())
}

const SUBSCRIBERS: &[&str] = &["participants", "allowed", "anyone"];
const READERS: &[&str] = &["participants", "allowed", "nobody", "admins", "owners"];
const PARTICIPANT_READERS: &[&str] = &["participants", "allowed", "anyone", "nobody", "admins", "owners"];
const UPDATERS: &[&str] = &["participants", "admins", "owners"];
const RETRACTERS: &[&str] = &["nobody", "admins", "owners"];

/// The list-single settings: name, allowed values, and where they live.
type LevelField = (&'static str, &'static [&'static str], fn(&mut ChannelConfig) -> &mut Level);

const LEVELS: &[LevelField] = &[
    ("Messages Node Subscription", SUBSCRIBERS, |c| &mut c.messages_subscription),
    ("Presence Node Subscription", SUBSCRIBERS, |c| &mut c.presence_subscription),
    ("Participants Node Subscription", PARTICIPANT_READERS, |c| &mut c.participants_subscription),
    ("Information Node Subscription", SUBSCRIBERS, |c| &mut c.info_subscription),
    ("Allowed Node Subscription", READERS, |c| &mut c.allowed_subscription),
    ("Banned Node Subscription", READERS, |c| &mut c.banned_subscription),
    ("Configuration Node Access", READERS, |c| &mut c.config_access),
    ("Information Node Update Rights", UPDATERS, |c| &mut c.info_update),
    ("Avatar Nodes Update Rights", UPDATERS, |c| &mut c.avatar_update),
    ("Administrator Message Retraction Rights", RETRACTERS, |c| &mut c.admin_retraction),
];

type BoolField = (&'static str, fn(&mut ChannelConfig) -> &mut bool);

const BOOLS: &[BoolField] = &[
    ("Open Presence", |c| &mut c.open_presence),
    ("Participants Must Provide Presence", |c| &mut c.must_provide_presence),
    ("User Message Retraction", |c| &mut c.user_retraction),
    ("Participation Addition by Invitation from Participant", |c| &mut c.invitations),
    ("Private Messages", |c| &mut c.private_messages),
    ("Mandatory Nicks", |c| &mut c.mandatory_nicks),
];

/// The configuration node's item (`result`) or the form to change it (`form`), every
/// option with its current value.
pub(crate) fn config_form(config: &ChannelConfig, kind: &str) -> Element {
    let mut c = config.clone();
    let mut x = form(kind, ns::MIX_ADMIN);
    if kind == "form" {
        x.append_child(xml::text_el("title", ns::DATA, "Configuration Node Modification"));
    }
    let last: Vec<&str> = [c.last_change_by.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
    x.append_child(field("Last Change Made By", "jid-single", &last));
    let owners: Vec<&str> = config.owners.iter().map(String::as_str).collect();
    x.append_child(field("Owner", "jid-multi", &owners));
    let admins: Vec<&str> = config.admins.iter().map(String::as_str).collect();
    x.append_child(field("Administrator", "jid-multi", &admins));
    let eol: Vec<&str> = [config.end_of_life.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
    x.append_child(field("End of Life", "text-single", &eol));
    for (var, choices, get) in LEVELS {
        let value = get(&mut c).as_str();
        x.append_child(options(field(var, "list-single", &[value]), choices));
    }
    for (var, get) in BOOLS {
        x.append_child(field(var, "boolean", &[bit(*get(&mut c))]));
    }
    let visibility = field("JID Visibility", "list-single", &[config.jid_visibility.as_str()]);
    x.append_child(options(visibility, &Visibility::OPTIONS));
    x
}

/// Applies a submitted configuration form: fields present replace, others stay. An owner
/// must remain.
pub(crate) fn apply_config(config: &mut ChannelConfig, submission: &Element) -> Result<(), StanzaError> {
    let bad = |what: String| StanzaError::not_acceptable().with_text(what);
    let mut next = config.clone();
    for (var, values) in submitted(submission) {
        let single = values.first().map(String::as_str).unwrap_or_default();
        match var {
            "FORM_TYPE" | "Last Change Made By" => {}
            "Owner" | "Administrator" => {
                let mut set = std::collections::BTreeSet::new();
                for v in &values {
                    let jid = BareJid::new(v.trim()).map_err(|_| StanzaError::jid_malformed())?;
                    set.insert(jid.to_string());
                }
                if var == "Owner" {
                    next.owners = set;
                } else {
                    next.admins = set;
                }
            }
            "End of Life" => next.end_of_life = single.to_owned(),
            "JID Visibility" => {
                next.jid_visibility =
                    Visibility::parse(single).ok_or_else(|| bad(format!("unknown JID Visibility {single}")))?
            }
            _ => {
                if let Some((_, choices, get)) = LEVELS.iter().find(|(v, ..)| *v == var) {
                    let level = Level::parse(single)
                        .filter(|l| choices.contains(&l.as_str()))
                        .ok_or_else(|| bad(format!("{var} cannot be {single}")))?;
                    *get(&mut next) = level;
                } else if let Some((_, get)) = BOOLS.iter().find(|(v, _)| *v == var) {
                    *get(&mut next) = boolean(single)?;
                }
                // Options this service does not know are ignored, as XEP-0004 allows.
            }
        }
    }
    if next.owners.is_empty() {
        return Err(bad("a channel needs at least one owner".into()));
    }
    *config = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_its_form() {
        let mut config = ChannelConfig::default();
        config.owners.insert("o@a.example".into());
        let mut changed = config_form(&config, "submit");
        for f in changed.children_mut() {
            if f.attr("var") == Some("Mandatory Nicks") || f.attr("var") == Some("JID Visibility") {
                let v = if f.attr("var") == Some("Mandatory Nicks") { "0" } else { "jid-hidden" };
                f.remove_child("value", ns::DATA);
                f.append_child(xml::text_el("value", ns::DATA, v));
            }
        }
        apply_config(&mut config, &changed).unwrap();
        assert!(!config.mandatory_nicks);
        assert_eq!(config.jid_visibility, Visibility::Hidden);
        assert_eq!(config.messages_subscription, Level::Participants);
        let no_owner = field("Owner", "jid-multi", &[]);
        let mut x = form("submit", ns::MIX_ADMIN);
        x.append_child(no_owner);
        assert!(apply_config(&mut config, &x).is_err());
        let mut bad_level = form("submit", ns::MIX_ADMIN);
        bad_level.append_child(field("Messages Node Subscription", "list-single", &["owners"]));
        assert!(apply_config(&mut config, &bad_level).is_err());
    }

    #[test]
    fn info_keeps_fields_not_submitted() {
        let mut info = Info { name: "Coven".into(), description: "heath".into(), ..Info::default() };
        let mut x = form("submit", ns::MIX_CORE);
        x.append_child(field("Description", "text-single", &["cave"]));
        apply_info(&mut info, &x).unwrap();
        assert_eq!((info.name.as_str(), info.description.as_str()), ("Coven", "cave"));
        let round = read_info(&info_form(&info, "result"), "t");
        assert_eq!(round.description, "cave");
    }
}
