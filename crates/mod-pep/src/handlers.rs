//! The `pubsub` and `pubsub#owner` IQs on an account (XEP-0060 §6–§8 as PEP uses them):
//! parsing and permission checks; the work itself is in [`crate::service`].

use crate::access::Audience;
use crate::config::{NodeConfig, NodeForm, SendLast, is_options_form, publish_options};
use crate::service::{Pep, item_element, node_required, refusal};
use rhein_module::{Ctx, IqResult, Stanza, storage_failure};
use rhein_proto::parsers::rsm::{First, SetQuery, SetResult};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Actor, Affiliation};
use rhein_storage::{ItemPage, ItemRow};
use std::sync::Arc;

fn only_owner(from: &Jid, owner: &BareJid) -> Result<(), StanzaError> {
    if from.to_bare() == *owner { Ok(()) } else { Err(StanzaError::forbidden()) }
}

/// The one operation element inside `<pubsub/>`, beside optional companions.
fn operation<'a>(iq: &'a Element, ns_: &str) -> Result<(&'a Element, &'a Element), StanzaError> {
    let pubsub = iq.get_child("pubsub", ns_).ok_or_else(StanzaError::bad_request)?;
    let companion =
        |c: &Element| ns_ == ns::PUBSUB && matches!(c.name(), "publish-options" | "configure" | "options" | "set");
    let op = pubsub.children().find(|c| !companion(c)).ok_or_else(StanzaError::bad_request)?;
    Ok((pubsub, op))
}

fn node_of(op: &Element) -> Result<String, StanzaError> {
    op.attr("node").filter(|n| !n.is_empty()).map(str::to_owned).ok_or_else(node_required)
}

/// The ids of the `<item/>`s an operation names.
fn item_ids(op: &Element) -> Vec<String> {
    op.children().filter(|c| c.is("item", ns::PUBSUB)).filter_map(|i| i.attr("id")).map(str::to_owned).collect()
}

fn unsupported(feature: &str) -> StanzaError {
    StanzaError::feature_not_implemented().with_app(xml::with_attr(
        Element::bare("unsupported", ns::PUBSUB_ERRORS),
        "feature",
        feature,
    ))
}

fn wrap(ns_: &str, child: Element) -> Element {
    let mut pubsub = Element::bare("pubsub", ns_);
    pubsub.append_child(child);
    pubsub
}

impl Pep {
    pub(crate) async fn user_set(self: Arc<Self>, ctx: Ctx, iq: Stanza) -> IqResult {
        let (from, owner, iq) = (iq.from, iq.to.to_bare(), iq.el);
        let (pubsub, op) = operation(&iq, ns::PUBSUB)?;
        match op.name() {
            "publish" => {
                only_owner(&from, &owner)?;
                let node = node_of(op)?;
                let mut items = op.children().filter(|c| c.is("item", ns::PUBSUB));
                let (item, None) = (items.next(), items.next()) else {
                    return Err(StanzaError::bad_request()
                        .with_app(Element::bare("invalid-payload", ns::PUBSUB_ERRORS))
                        .with_text("publish one item at a time"));
                };
                let mut payloads = item.into_iter().flat_map(|i| i.children());
                let (Some(payload), None) = (payloads.next(), payloads.next()) else {
                    return Err(StanzaError::bad_request()
                        .with_app(Element::bare("payload-required", ns::PUBSUB_ERRORS))
                        .with_text("an item carries exactly one payload"));
                };
                let options = publish_options(pubsub);
                if options.is_some_and(|o| !is_options_form(o)) {
                    return Err(StanzaError::bad_request().with_text("publish-options must be a publish-options form"));
                }
                let id = item
                    .and_then(|i| i.attr("id"))
                    .filter(|id| !id.is_empty())
                    .map_or_else(xml::random_id, str::to_owned);
                let row = ItemRow { id: id.clone(), publisher: from.to_string(), payload: xml::to_string(payload) };
                self.publish(&ctx, &owner, &node, row, options).await?;
                let mut publish = xml::with_attr(Element::bare("publish", ns::PUBSUB), "node", node);
                publish.append_child(xml::with_attr(Element::bare("item", ns::PUBSUB), "id", id));
                Ok(Some(wrap(ns::PUBSUB, publish)))
            }
            "retract" => {
                only_owner(&from, &owner)?;
                let node = node_of(op)?;
                let ids = item_ids(op);
                if ids.is_empty() {
                    return Err(StanzaError::bad_request().with_app(Element::bare("item-required", ns::PUBSUB_ERRORS)));
                }
                let notify = op.attr("notify").map(|n| matches!(n, "1" | "true"));
                self.retract(&ctx, &owner, &node, &ids, notify).await?;
                Ok(None)
            }
            "create" => {
                only_owner(&from, &owner)?;
                let node = node_of(op)?;
                let form = pubsub.get_child("configure", ns::PUBSUB).and_then(|c| c.get_child("x", ns::DATA));
                self.create(&ctx, &owner, &node, form).await?;
                Ok(None)
            }
            "subscribe" | "unsubscribe" => {
                let node = node_of(op)?;
                let jid = op.attr("jid").and_then(|j| Jid::new(j).ok()).ok_or_else(StanzaError::bad_request)?;
                if jid.to_bare() != from.to_bare() {
                    return Err(StanzaError::bad_request().with_app(Element::bare("invalid-jid", ns::PUBSUB_ERRORS)));
                }
                let on = op.name() == "subscribe";
                let audience = Audience::load(&ctx, &owner, &node).await?;
                let who = from.to_bare();
                let actor = Actor { jid: who.as_str(), relation: audience.relation(&who) };
                let nodes = self.nodes(&ctx, &owner);
                let (config, changed) = nodes.subscribe(&actor, &node, jid.as_str(), on).await.map_err(refusal)?;
                if on && changed && config.send_last_published_item != SendLast::Never {
                    self.send_last(&ctx, &owner, &node, &config, jid.as_str()).await?;
                }
                let mut sub = xml::with_attr(Element::bare("subscription", ns::PUBSUB), "node", node);
                xml::set_attr(&mut sub, "jid", jid.as_str());
                xml::set_attr(&mut sub, "subscription", if on { "subscribed" } else { "none" });
                Ok(on.then(|| wrap(ns::PUBSUB, sub)))
            }
            "options" => Err(unsupported("subscription-options")),
            _ => Err(StanzaError::bad_request()),
        }
    }

    pub(crate) async fn user_get(self: Arc<Self>, ctx: Ctx, iq: Stanza) -> IqResult {
        let (from, owner, iq) = (iq.from, iq.to.to_bare(), iq.el);
        let (pubsub, op) = operation(&iq, ns::PUBSUB)?;
        match op.name() {
            "items" => self.items(&ctx, &from, &owner, pubsub, op).await,
            "affiliations" => {
                let mut out = Element::bare("affiliations", ns::PUBSUB);
                for (node, _) in ctx.db.pubsub().nodes(owner.as_str()).await.map_err(storage_failure)? {
                    let affiliation = if from.to_bare() == owner {
                        Some(Affiliation::Owner)
                    } else {
                        let all = ctx.db.pubsub().affiliations(owner.as_str(), &node).await.map_err(storage_failure)?;
                        all.into_iter().find(|(j, _)| *j == from.to_bare().as_str()).map(|(_, a)| a)
                    };
                    if let Some(a) = affiliation {
                        let mut el = xml::with_attr(Element::bare("affiliation", ns::PUBSUB), "node", node);
                        xml::set_attr(&mut el, "affiliation", a.as_str());
                        out.append_child(el);
                    }
                }
                Ok(Some(wrap(ns::PUBSUB, out)))
            }
            "subscriptions" => {
                let mut out = Element::bare("subscriptions", ns::PUBSUB);
                for (node, _) in ctx.db.pubsub().nodes(owner.as_str()).await.map_err(storage_failure)? {
                    for jid in ctx.db.pubsub().subscribers(owner.as_str(), &node).await.map_err(storage_failure)? {
                        if Jid::new(&jid).is_ok_and(|j| j.to_bare() == from.to_bare()) {
                            let mut el = xml::with_attr(Element::bare("subscription", ns::PUBSUB), "node", &*node);
                            xml::set_attr(&mut el, "jid", jid);
                            xml::set_attr(&mut el, "subscription", "subscribed");
                            out.append_child(el);
                        }
                    }
                }
                Ok(Some(wrap(ns::PUBSUB, out)))
            }
            "default" | "options" => Err(unsupported("retrieve-default-sub")),
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// XEP-0060 §6.5: all items, the newest `max_items`, some by id, or a page (XEP-0059).
    async fn items(&self, ctx: &Ctx, from: &Jid, owner: &BareJid, pubsub: &Element, op: &Element) -> IqResult {
        let node = node_of(op)?;
        let config = self.existing(ctx, owner, &node).await?;
        Audience::load(ctx, owner, &node).await?.check(&config, &from.to_bare())?;
        let limit = i64::from(self.config.max_items);
        let ids = item_ids(op);
        let (rows, count) = if !ids.is_empty() {
            let rows = ctx.db.pubsub().items_by_id(owner.as_str(), &node, &ids).await.map_err(storage_failure)?;
            if rows.is_empty() {
                return Err(StanzaError::item_not_found().with_text("no such item"));
            }
            (rows, None)
        } else {
            let rsm = pubsub.get_child("set", ns::RSM).cloned().map(rhein_module::payload::<SetQuery>).transpose()?;
            let max = match (rsm.as_ref().and_then(|r| r.max), op.attr("max_items")) {
                (Some(m), _) => i64::try_from(m).unwrap_or(i64::MAX).min(limit),
                (None, Some(m)) => m
                    .trim()
                    .parse::<i64>()
                    .map(|n| n.clamp(0, limit))
                    .map_err(|_| StanzaError::bad_request().with_text("max_items must be a number"))?,
                (None, None) => limit,
            };
            let paged = rsm.is_some();
            let (after, before) = rsm.map(|r| (r.after, r.before)).unwrap_or_default();
            let page = match (after, before, op.attr("max_items")) {
                (Some(a), _, _) if !a.is_empty() => ItemPage::After(a, max),
                (_, Some(b), _) if !b.is_empty() => ItemPage::Before(b, max),
                (_, Some(_), _) | (None, None, Some(_)) => ItemPage::Last(max),
                _ => ItemPage::First(max),
            };
            let (rows, count) = ctx
                .db
                .pubsub()
                .items(owner.as_str(), &node, &page)
                .await
                .map_err(storage_failure)?
                .ok_or_else(|| StanzaError::item_not_found().with_text("no such item to page from"))?;
            (rows, paged.then_some(count))
        };
        let mut items = xml::with_attr(Element::bare("items", ns::PUBSUB), "node", node);
        for row in &rows {
            items.append_child(item_element(ns::PUBSUB, row, true));
        }
        let mut out = wrap(ns::PUBSUB, items);
        if let Some(count) = count {
            let bounds = rows.first().zip(rows.last());
            let set = SetResult {
                first: bounds.map(|(f, _)| First { index: None, item: f.id.clone() }),
                last: bounds.map(|(_, l)| l.id.clone()),
                count: Some(count.max(0) as usize),
            };
            out.append_child(set.into());
        }
        Ok(Some(out))
    }

    pub(crate) async fn owner_get(self: Arc<Self>, ctx: Ctx, iq: Stanza) -> IqResult {
        let (from, owner, iq) = (iq.from, iq.to.to_bare(), iq.el);
        only_owner(&from, &owner)?;
        let (_, op) = operation(&iq, ns::PUBSUB_OWNER)?;
        match op.name() {
            "configure" => {
                let node = node_of(op)?;
                let config = self.existing(&ctx, &owner, &node).await?;
                let mut configure = xml::with_attr(Element::bare("configure", ns::PUBSUB_OWNER), "node", node);
                configure.append_child(config.to_form("form"));
                Ok(Some(wrap(ns::PUBSUB_OWNER, configure)))
            }
            "default" => {
                let mut default = Element::bare("default", ns::PUBSUB_OWNER);
                default.append_child(NodeConfig::default().to_form("form"));
                Ok(Some(wrap(ns::PUBSUB_OWNER, default)))
            }
            "affiliations" => {
                let node = node_of(op)?;
                self.existing(&ctx, &owner, &node).await?;
                let mut out = xml::with_attr(Element::bare("affiliations", ns::PUBSUB_OWNER), "node", &*node);
                let mut own = xml::with_attr(Element::bare("affiliation", ns::PUBSUB_OWNER), "jid", owner.as_str());
                xml::set_attr(&mut own, "affiliation", "owner");
                out.append_child(own);
                for (jid, a) in ctx.db.pubsub().affiliations(owner.as_str(), &node).await.map_err(storage_failure)? {
                    let mut el = xml::with_attr(Element::bare("affiliation", ns::PUBSUB_OWNER), "jid", jid);
                    xml::set_attr(&mut el, "affiliation", a.as_str());
                    out.append_child(el);
                }
                Ok(Some(wrap(ns::PUBSUB_OWNER, out)))
            }
            "subscriptions" => {
                let node = node_of(op)?;
                self.existing(&ctx, &owner, &node).await?;
                let mut out = xml::with_attr(Element::bare("subscriptions", ns::PUBSUB_OWNER), "node", &*node);
                for jid in ctx.db.pubsub().subscribers(owner.as_str(), &node).await.map_err(storage_failure)? {
                    let mut el = xml::with_attr(Element::bare("subscription", ns::PUBSUB_OWNER), "jid", jid);
                    xml::set_attr(&mut el, "subscription", "subscribed");
                    out.append_child(el);
                }
                Ok(Some(wrap(ns::PUBSUB_OWNER, out)))
            }
            _ => Err(StanzaError::bad_request()),
        }
    }

    pub(crate) async fn owner_set(self: Arc<Self>, ctx: Ctx, iq: Stanza) -> IqResult {
        let (from, owner, iq) = (iq.from, iq.to.to_bare(), iq.el);
        only_owner(&from, &owner)?;
        let (_, op) = operation(&iq, ns::PUBSUB_OWNER)?;
        let node = node_of(op)?;
        match op.name() {
            "configure" => {
                let form = op.get_child("x", ns::DATA).ok_or_else(StanzaError::bad_request)?;
                if form.attr("type") != Some("cancel") {
                    self.configure(&ctx, &owner, &node, form).await?;
                }
                Ok(None)
            }
            "delete" => {
                let redirect = op.get_child("redirect", ns::PUBSUB_OWNER).and_then(|r| r.attr("uri"));
                self.delete(&ctx, &owner, &node, redirect).await?;
                Ok(None)
            }
            "purge" => {
                self.purge(&ctx, &owner, &node).await?;
                Ok(None)
            }
            "affiliations" => {
                self.existing(&ctx, &owner, &node).await?;
                for a in op.children().filter(|c| c.is("affiliation", ns::PUBSUB_OWNER)) {
                    let jid = a.attr("jid").and_then(|j| Jid::new(j).ok()).ok_or_else(StanzaError::jid_malformed)?;
                    let affiliation = a.attr("affiliation").and_then(Affiliation::parse);
                    let Some(affiliation) = affiliation.filter(|a| {
                        matches!(
                            a,
                            Affiliation::Member | Affiliation::Publisher | Affiliation::Outcast | Affiliation::None
                        )
                    }) else {
                        return Err(StanzaError::not_acceptable().with_text("unsupported affiliation change"));
                    };
                    if jid.to_bare() == owner {
                        return Err(StanzaError::not_acceptable().with_text("unsupported affiliation change"));
                    }
                    ctx.db
                        .pubsub()
                        .set_affiliation(owner.as_str(), &node, jid.to_bare().as_str(), affiliation)
                        .await
                        .map_err(storage_failure)?;
                }
                Ok(None)
            }
            "subscriptions" => {
                self.existing(&ctx, &owner, &node).await?;
                for s in op.children().filter(|c| c.is("subscription", ns::PUBSUB_OWNER)) {
                    let jid = s.attr("jid").and_then(|j| Jid::new(j).ok()).ok_or_else(StanzaError::jid_malformed)?;
                    let on = match s.attr("subscription") {
                        Some("subscribed") => true,
                        Some("none") => false,
                        _ => return Err(StanzaError::not_acceptable().with_text("subscribed or none")),
                    };
                    ctx.db
                        .pubsub()
                        .set_subscription(owner.as_str(), &node, jid.as_str(), on)
                        .await
                        .map_err(storage_failure)?;
                }
                Ok(None)
            }
            _ => Err(StanzaError::bad_request()),
        }
    }
}
