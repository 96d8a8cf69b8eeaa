//! The `pubsub` and `pubsub#owner` IQs on an account (XEP-0060 §6–§8 as PEP uses them), read
//! as `rhein_proto::pubsub` requests; permission checks and the work are the engine's and
//! [`crate::service`]'s.

use crate::access::Audience;
use crate::config::{NodeConfig, NodeForm, SendLast, is_options_form};
use crate::service::{Pep, item_element, node_required, refusal};
use rhein_module::{Ctx, Iq, IqResult, storage_failure};
use rhein_proto::parsers::pubsub::{AffiliationAttribute, Subscription};
use rhein_proto::parsers::rsm::{First, SetQuery, SetResult};
use rhein_proto::pubsub::{self as ps, owner};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Actor, Affiliation};
use rhein_storage::{ItemPage, ItemRow};
use std::sync::Arc;

fn only_owner(from: &Jid, owner: &BareJid) -> Result<(), StanzaError> {
    if from.to_bare() == *owner { Ok(()) } else { Err(StanzaError::forbidden()) }
}

/// The node an operation names: XEP-0060 wants `<nodeid-required/>` when it names none.
fn node_of(node: Option<String>) -> Result<String, StanzaError> {
    node.filter(|n| !n.is_empty()).ok_or_else(node_required)
}

/// The ids of the items an operation names.
fn item_ids(items: &[ps::Item]) -> Vec<String> {
    items.iter().filter_map(|i| i.id.clone()).collect()
}

/// A data form among a request's children, if it carries one.
fn data_form(form: Option<Element>) -> Option<Element> {
    form.filter(|f| f.is("x", ns::DATA))
}

fn unsupported(feature: &str) -> StanzaError {
    StanzaError::feature_not_implemented().with_app(xml::with_attr(
        Element::bare("unsupported", ns::PUBSUB_ERRORS),
        "feature",
        feature,
    ))
}

fn pubsub_error(condition: &str) -> Element {
    Element::bare(condition, ns::PUBSUB_ERRORS)
}

fn wrap(ns_: &str, child: Element) -> Element {
    let mut pubsub = Element::bare("pubsub", ns_);
    pubsub.append_child(child);
    pubsub
}

impl Pep {
    pub(crate) async fn user_set(self: Arc<Self>, ctx: Ctx, iq: Iq<ps::Request>) -> IqResult {
        let (from, owner) = (iq.from.clone(), iq.account());
        match iq.payload {
            ps::Request { publish: Some(publish), publish_options, .. } => {
                only_owner(&from, &owner)?;
                let node = node_of(publish.node)?;
                let mut items = publish.items.into_iter();
                let (Some(item), None) = (items.next(), items.next()) else {
                    return Err(StanzaError::bad_request()
                        .with_app(pubsub_error("invalid-payload"))
                        .with_text("publish one item at a time"));
                };
                let mut payloads = item.payloads.into_iter();
                let (Some(payload), None) = (payloads.next(), payloads.next()) else {
                    return Err(StanzaError::bad_request()
                        .with_app(pubsub_error("payload-required"))
                        .with_text("an item carries exactly one payload"));
                };
                let options = data_form(publish_options.and_then(|o| o.form));
                if options.as_ref().is_some_and(|o| !is_options_form(o)) {
                    return Err(StanzaError::bad_request().with_text("publish-options must be a publish-options form"));
                }
                let id = item.id.filter(|id| !id.is_empty()).unwrap_or_else(xml::random_id);
                let row = ItemRow { id: id.clone(), publisher: from.to_string(), payload: xml::to_string(&payload) };
                self.publish(&ctx, &owner, &node, row, options.as_ref()).await?;
                let mut publish = xml::with_attr(Element::bare("publish", ns::PUBSUB), "node", node);
                publish.append_child(xml::with_attr(Element::bare("item", ns::PUBSUB), "id", id));
                Ok(Some(wrap(ns::PUBSUB, publish)))
            }
            ps::Request { retract: Some(retract), .. } => {
                only_owner(&from, &owner)?;
                let node = node_of(retract.node)?;
                let ids = item_ids(&retract.items);
                if ids.is_empty() {
                    return Err(StanzaError::bad_request().with_app(pubsub_error("item-required")));
                }
                self.retract(&ctx, &owner, &node, &ids, retract.notify).await?;
                Ok(None)
            }
            ps::Request { create: Some(create), configure, .. } => {
                only_owner(&from, &owner)?;
                let node = node_of(create.node)?;
                let form = data_form(configure.and_then(|c| c.form));
                self.create(&ctx, &owner, &node, form.as_ref()).await?;
                Ok(None)
            }
            ps::Request { subscribe: Some(ps::Subscribe { node, jid }), .. } => {
                self.subscribe(&ctx, &from, &owner, node, jid, true).await
            }
            ps::Request { unsubscribe: Some(ps::Unsubscribe { node, jid }), .. } => {
                self.subscribe(&ctx, &from, &owner, node, jid, false).await
            }
            ps::Request { options: Some(_), .. } => Err(unsupported("subscription-options")),
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// Subscribes `jid`, a JID of the requester's own, to a node, or unsubscribes it.
    async fn subscribe(
        &self,
        ctx: &Ctx,
        from: &Jid,
        owner: &BareJid,
        node: Option<String>,
        jid: Jid,
        on: bool,
    ) -> IqResult {
        let node = node_of(node)?;
        if jid.to_bare() != from.to_bare() {
            return Err(StanzaError::bad_request().with_app(pubsub_error("invalid-jid")));
        }
        let audience = Audience::load(ctx, owner, &node).await?;
        let who = from.to_bare();
        let actor = Actor { jid: who.as_str(), relation: audience.relation(&who) };
        let (config, changed) =
            self.nodes(ctx, owner).subscribe(&actor, &node, jid.as_str(), on).await.map_err(refusal)?;
        if on && changed && config.send_last_published_item != SendLast::Never {
            self.send_last(ctx, owner, &node, &config, jid.as_str()).await?;
        }
        let mut sub = xml::with_attr(Element::bare("subscription", ns::PUBSUB), "node", node);
        xml::set_attr(&mut sub, "jid", jid.as_str());
        xml::set_attr(&mut sub, "subscription", if on { "subscribed" } else { "none" });
        Ok(on.then(|| wrap(ns::PUBSUB, sub)))
    }

    pub(crate) async fn user_get(self: Arc<Self>, ctx: Ctx, iq: Iq<ps::Request>) -> IqResult {
        let (from, owner) = (iq.from.clone(), iq.account());
        match iq.payload {
            ps::Request { items: Some(items), rsm, .. } => self.items(&ctx, &from, &owner, items, rsm).await,
            ps::Request { affiliations: Some(_), .. } => {
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
            ps::Request { subscriptions: Some(_), .. } => {
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
            ps::Request { default: Some(_), .. } | ps::Request { options: Some(_), .. } => {
                Err(unsupported("retrieve-default-sub"))
            }
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// XEP-0060 §6.5: all items, the newest `max_items`, some by id, or a page (XEP-0059).
    async fn items(
        &self,
        ctx: &Ctx,
        from: &Jid,
        owner: &BareJid,
        request: ps::Items,
        rsm: Option<SetQuery>,
    ) -> IqResult {
        let node = node_of(request.node)?;
        let config = self.existing(ctx, owner, &node).await?;
        Audience::load(ctx, owner, &node).await?.check(&config, &from.to_bare())?;
        let limit = i64::from(self.config.max_items);
        let ids = item_ids(&request.items);
        let (rows, count) = if !ids.is_empty() {
            let rows = ctx.db.pubsub().items_by_id(owner.as_str(), &node, &ids).await.map_err(storage_failure)?;
            if rows.is_empty() {
                return Err(StanzaError::item_not_found().with_text("no such item"));
            }
            (rows, None)
        } else {
            let max_items = request.max_items.as_deref();
            let max = match (rsm.as_ref().and_then(|r| r.max), max_items) {
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
            let page = match (after, before, max_items) {
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

    pub(crate) async fn owner_get(self: Arc<Self>, ctx: Ctx, iq: Iq<owner::Request>) -> IqResult {
        let (from, owner) = (iq.from.clone(), iq.account());
        only_owner(&from, &owner)?;
        match iq.payload {
            owner::Request { configure: Some(configure), .. } => {
                let node = node_of(configure.node)?;
                let config = self.existing(&ctx, &owner, &node).await?;
                let mut configure = xml::with_attr(Element::bare("configure", ns::PUBSUB_OWNER), "node", node);
                configure.append_child(config.to_form("form"));
                Ok(Some(wrap(ns::PUBSUB_OWNER, configure)))
            }
            owner::Request { default: Some(_), .. } => {
                let mut default = Element::bare("default", ns::PUBSUB_OWNER);
                default.append_child(NodeConfig::default().to_form("form"));
                Ok(Some(wrap(ns::PUBSUB_OWNER, default)))
            }
            owner::Request { affiliations: Some(affiliations), .. } => {
                let node = node_of(affiliations.node)?;
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
            owner::Request { subscriptions: Some(subscriptions), .. } => {
                let node = node_of(subscriptions.node)?;
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

    pub(crate) async fn owner_set(self: Arc<Self>, ctx: Ctx, iq: Iq<owner::Request>) -> IqResult {
        let (from, owner) = (iq.from.clone(), iq.account());
        only_owner(&from, &owner)?;
        match iq.payload {
            owner::Request { configure: Some(configure), .. } => {
                let node = node_of(configure.node)?;
                let form = data_form(configure.form).ok_or_else(StanzaError::bad_request)?;
                if form.attr("type") != Some("cancel") {
                    self.configure(&ctx, &owner, &node, &form).await?;
                }
                Ok(None)
            }
            owner::Request { delete: Some(delete), .. } => {
                let node = node_of(delete.node)?;
                let redirect = delete.redirect.map(|r| r.uri);
                self.delete(&ctx, &owner, &node, redirect.as_deref()).await?;
                Ok(None)
            }
            owner::Request { purge: Some(purge), .. } => {
                self.purge(&ctx, &owner, &node_of(purge.node)?).await?;
                Ok(None)
            }
            owner::Request { affiliations: Some(affiliations), .. } => {
                let node = node_of(affiliations.node)?;
                self.existing(&ctx, &owner, &node).await?;
                for a in affiliations.items {
                    let affiliation = match a.affiliation {
                        AffiliationAttribute::Member => Affiliation::Member,
                        AffiliationAttribute::Publisher => Affiliation::Publisher,
                        AffiliationAttribute::Outcast => Affiliation::Outcast,
                        AffiliationAttribute::None => Affiliation::None,
                        // The account owns its nodes alone; publish-only is not offered.
                        _ => return Err(StanzaError::not_acceptable().with_text("unsupported affiliation change")),
                    };
                    if a.jid.to_bare() == owner {
                        return Err(StanzaError::not_acceptable().with_text("unsupported affiliation change"));
                    }
                    ctx.db
                        .pubsub()
                        .set_affiliation(owner.as_str(), &node, a.jid.to_bare().as_str(), affiliation)
                        .await
                        .map_err(storage_failure)?;
                }
                Ok(None)
            }
            owner::Request { subscriptions: Some(subscriptions), .. } => {
                let node = node_of(subscriptions.node)?;
                self.existing(&ctx, &owner, &node).await?;
                for s in subscriptions.items {
                    let on = match s.subscription {
                        Subscription::Subscribed => true,
                        Subscription::None => false,
                        _ => return Err(StanzaError::not_acceptable().with_text("subscribed or none")),
                    };
                    ctx.db
                        .pubsub()
                        .set_subscription(owner.as_str(), &node, s.jid.as_str(), on)
                        .await
                        .map_err(storage_failure)?;
                }
                Ok(None)
            }
            _ => Err(StanzaError::bad_request()),
        }
    }
}
