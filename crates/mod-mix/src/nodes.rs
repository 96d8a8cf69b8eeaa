//! The channel's nodes through PubSub (XEP-0369 §6.5, §6.6; XEP-0406 §5): reading items as
//! the configuration allows, and publishing or retracting where the rights allow —
//! information, configuration, the allowed and banned lists, the avatar.

use crate::channel::Channel;
use crate::service::{Mix, Request};
use crate::{forms, notify, store};
use rhein_module::{Ctx, Outbox};
use rhein_proto::mix::{JidMapEntry, nodes};
use rhein_proto::{Element, Jid, StanzaError, ns, time, xml};
use rhein_pubsub::Action;
use rhein_storage::{ItemRow, now_ms};

fn item(id: &str, payload: Option<Element>) -> Element {
    let mut item = xml::with_attr(Element::bare("item", ns::PUBSUB), "id", id);
    if let Some(p) = payload {
        item.append_child(p);
    }
    item
}

fn wrap(child: Element) -> Element {
    let mut pubsub = Element::bare("pubsub", ns::PUBSUB);
    pubsub.append_child(child);
    pubsub
}

impl Mix {
    pub(crate) async fn pubsub(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        let op = req.payload.children().next().ok_or_else(StanzaError::bad_request)?;
        let node = op.attr("node").ok_or_else(|| StanzaError::bad_request().with_text("which node?"))?;
        match (req.set, op.name()) {
            (false, "items") => self.items(ctx, c, req, op, node).await.map(Some),
            (true, "publish") => self.publish(ctx, out, c, req, op, node).await.map(Some),
            (true, "retract") => self.retract(ctx, out, c, req, op, node).await.map(|()| None),
            _ => Err(StanzaError::feature_not_implemented()
                .with_text("a channel's nodes are read, published and retracted; join to subscribe")),
        }
    }

    async fn items(
        &self,
        ctx: &Ctx,
        c: &Channel,
        req: &Request<'_>,
        op: &Element,
        node: &str,
    ) -> Result<Element, StanzaError> {
        c.read_level(node).ok_or_else(|| StanzaError::item_not_found().with_text("no such node"))?;
        if !c.allows(node, &req.who, Action::Retrieve) {
            return Err(StanzaError::forbidden().with_text("you may not read this node"));
        }
        let viewer = &req.who;
        let mut items: Vec<Element> = match node {
            nodes::PARTICIPANTS => {
                c.participants.keys().filter_map(|id| notify::participant_item(c, id, viewer)).collect()
            }
            nodes::JIDMAP => c
                .participants
                .iter()
                .map(|(id, m)| item(id, Some(JidMapEntry { jid: m.jid.to_string() }.into())))
                .collect(),
            nodes::INFO => vec![item(&c.info.modified, Some(forms::info_form(&c.info, "result")))],
            nodes::CONFIG => vec![item(&c.config.modified, Some(forms::config_form(&c.config, "result")))],
            nodes::ALLOWED => match &c.allowed {
                Some(list) => list.iter().map(|j| item(j, None)).collect(),
                None => return Err(StanzaError::item_not_found().with_text("everyone not banned is allowed")),
            },
            nodes::BANNED => c.banned.iter().map(|j| item(j, None)).collect(),
            nodes::PRESENCE => c
                .presences
                .iter()
                .filter_map(|(client, entry)| {
                    let id = c.participant_id(&client.to_bare())?;
                    let mut p = crate::presence::view(c, id, client, entry, viewer, false);
                    xml::remove_attr(&mut p, "to");
                    xml::remove_attr(&mut p, "id");
                    Some(item(&c.proxy_full(id, &entry.shown_resource), Some(p)))
                })
                .collect(),
            // Messages are not kept as items: their history is the archive.
            nodes::MESSAGES => Vec::new(),
            _ => store::items(ctx, c, node)
                .await?
                .into_iter()
                .map(|row| item(&row.id, row.payload.parse::<Element>().ok()))
                .collect(),
        };
        let wanted: Vec<&str> = op.children().filter(|i| i.name() == "item").filter_map(|i| i.attr("id")).collect();
        if !wanted.is_empty() {
            items.retain(|i| i.attr("id").is_some_and(|id| wanted.contains(&id)));
        }
        let mut list = xml::with_attr(Element::bare("items", ns::PUBSUB), "node", node);
        for i in items {
            list.append_child(i);
        }
        Ok(wrap(list))
    }

    async fn publish(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        req: &Request<'_>,
        op: &Element,
        node: &str,
    ) -> Result<Element, StanzaError> {
        c.write_level(node).ok_or_else(|| {
            StanzaError::not_allowed().with_text("this node changes only through the channel's own operations")
        })?;
        if !c.allows(node, &req.who, Action::Publish) {
            return Err(StanzaError::forbidden().with_text("you may not publish to this node"));
        }
        // Clients wrap the item in <items/> (as XEP-0406's examples do) or not.
        let published = op
            .children()
            .find(|i| i.name() == "item")
            .or_else(|| {
                op.children().find(|i| i.name() == "items").and_then(|is| is.children().find(|i| i.name() == "item"))
            })
            .ok_or_else(|| StanzaError::bad_request().with_text("publish one <item/>"))?;
        let payload = published.children().next();
        let now = time::datetime(now_ms());
        let id = match node {
            nodes::INFO => {
                let form =
                    payload.ok_or_else(|| StanzaError::bad_request().with_text("publish the information form"))?;
                forms::apply_info(&mut c.info, form)?;
                c.info.modified = now;
                store::save_info(ctx, c).await?;
                let item = item(&c.info.modified, Some(forms::info_form(&c.info, "result")));
                notify::published(out, c, node, &item);
                c.info.modified.clone()
            }
            nodes::CONFIG => {
                let form =
                    payload.ok_or_else(|| StanzaError::bad_request().with_text("publish the configuration form"))?;
                let before = c.config.jid_visibility;
                forms::apply_config(&mut c.config, form)?;
                c.config.modified = now;
                c.config.last_change_by = req.who.to_string();
                store::save_config(ctx, c).await?;
                if c.config.jid_visibility != before {
                    self.drop_unsuited(ctx, out, c).await?;
                }
                let item = item(&c.config.modified, Some(forms::config_form(&c.config, "result")));
                notify::published(out, c, node, &item);
                c.config.modified.clone()
            }
            nodes::ALLOWED | nodes::BANNED => {
                let entry = published
                    .attr("id")
                    .ok_or_else(|| StanzaError::bad_request().with_text("the item id is the JID"))?;
                let entry = Jid::new(entry).map_err(|_| StanzaError::jid_malformed())?.to_bare().to_string();
                self.list_add(ctx, out, c, node, &entry).await?;
                notify::published(out, c, node, &item(&entry, None));
                entry
            }
            _ => {
                let id = published.attr("id").map_or_else(xml::random_id, str::to_owned);
                let row = ItemRow {
                    id: id.clone(),
                    publisher: req.who.to_string(),
                    payload: payload.map(xml::to_string).unwrap_or_default(),
                };
                store::publish(ctx, c, node, &row).await?;
                notify::published(out, c, node, &item(&id, payload.cloned()));
                id
            }
        };
        let mut publish = xml::with_attr(Element::bare("publish", ns::PUBSUB), "node", node);
        publish.append_child(item(&id, None));
        Ok(wrap(publish))
    }

    /// Adds a JID (or domain) to the allowed or banned list; banning removes matching
    /// participants at once (XEP-0406 §5.3).
    async fn list_add(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        node: &str,
        entry: &str,
    ) -> Result<(), StanzaError> {
        if node == nodes::ALLOWED {
            if c.allowed.is_none() {
                store::create_allowed(ctx, c).await?;
            }
            store::list_entry(ctx, c, node, entry, true).await?;
            c.allowed.get_or_insert_default().insert(entry.to_owned());
            return Ok(());
        }
        store::list_entry(ctx, c, node, entry, true).await?;
        c.banned.insert(entry.to_owned());
        let banned: Vec<String> =
            c.participants.iter().filter(|(_, m)| c.is_banned(&m.jid)).map(|(id, _)| id.clone()).collect();
        for id in banned {
            tracing::info!(channel = %c.jid, participant = %id, "banned participant removed");
            self.drop_participant(ctx, out, c, &id, true).await?;
        }
        Ok(())
    }

    async fn retract(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        req: &Request<'_>,
        op: &Element,
        node: &str,
    ) -> Result<(), StanzaError> {
        if !matches!(node, nodes::ALLOWED | nodes::BANNED | ns::AVATAR_DATA | ns::AVATAR_METADATA) {
            return Err(StanzaError::not_allowed().with_text("items of this node are not retracted"));
        }
        c.write_level(node).ok_or_else(StanzaError::not_allowed)?;
        if !c.allows(node, &req.who, Action::Retract) {
            return Err(StanzaError::forbidden().with_text("you may not retract from this node"));
        }
        for id in op.children().filter(|i| i.name() == "item").filter_map(|i| i.attr("id")) {
            store::list_entry(ctx, c, node, id, false).await?;
            match node {
                nodes::ALLOWED => {
                    c.allowed.as_mut().map(|a| a.remove(id));
                }
                nodes::BANNED => {
                    c.banned.remove(id);
                }
                _ => {}
            }
            notify::retracted(out, c, node, id);
        }
        Ok(())
    }
}
