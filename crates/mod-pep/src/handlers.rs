//! The `pubsub` and `pubsub#owner` IQs on an account (XEP-0060 §6–§8 as PEP uses them), read
//! as `rhein_proto::pubsub` requests; permission checks and the work are the engine's and
//! [`crate::service`]'s, forms, errors and the items query [`rhein_module::pubsub`]'s.

use crate::access::Audience;
use crate::config::{NodeConfig, NodeForm, SendLast};
use crate::service::Pep;
use rhein_module::pubsub::{
    self as shared, ItemsQuery, Publication, SubOptionsForm, data_form, node_of, options_answer, own_jid, pubsub_error,
    refusal, subscription_answer, wire_affiliation, wire_state, wrap,
};
use rhein_module::{Ctx, Iq, IqResult, storage_failure};
use rhein_proto::parsers::pubsub::Subscription;
use rhein_proto::parsers::rsm::SetQuery;
use rhein_proto::pubsub::{self as ps, owner};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Actor, Affiliation, SubOptions};
use rhein_storage::{ItemRow, new_subid};
use std::sync::Arc;

fn only_owner(from: &Jid, owner: &BareJid) -> Result<(), StanzaError> {
    if from.to_bare() == *owner { Ok(()) } else { Err(StanzaError::forbidden()) }
}

/// The ids of the items an operation names.
fn item_ids(items: &[ps::Item]) -> Vec<String> {
    items.iter().filter_map(|i| i.id.clone()).collect()
}

impl Pep {
    pub(crate) async fn user_set(self: Arc<Self>, ctx: Ctx, iq: Iq<ps::Request>) -> IqResult {
        let (from, owner) = (iq.from.clone(), iq.account());
        match iq.payload {
            ps::Request { publish: Some(publish), publish_options, .. } => {
                only_owner(&from, &owner)?;
                let Publication { node, id, payload, options } = Publication::read(publish, publish_options)?;
                let row = ItemRow { id: id.clone(), publisher: from.to_string(), payload: xml::to_string(&payload) };
                self.publish(&ctx, &owner, &node, row, options.as_ref()).await?;
                Ok(Some(Publication::answer(&node, &id)))
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
            ps::Request { subscribe: Some(ps::Subscribe { node, jid }), options, .. } => {
                let mut chosen = SubOptions::default();
                if let Some(form) = data_form(options.and_then(|o| o.form)) {
                    chosen.apply(&form)?;
                }
                self.subscribe(&ctx, &from, &owner, node_of(node)?, jid, chosen).await
            }
            ps::Request { unsubscribe: Some(ps::Unsubscribe { node, jid, subid }), .. } => {
                own_jid(&from, &jid)?;
                let node = node_of(node)?;
                self.nodes(&ctx, &owner).unsubscribe(&node, jid.as_str(), subid.as_deref()).await.map_err(refusal)?;
                Ok(None)
            }
            ps::Request { options: Some(ps::Options { node, jid, subid, form }), .. } => {
                let (node, jid) = (node_of(node)?, jid.unwrap_or_else(|| from.clone()));
                own_jid(&from, &jid)?;
                let form =
                    data_form(form).ok_or_else(|| StanzaError::bad_request().with_text("options need a form"))?;
                let service = self.nodes(&ctx, &owner);
                let mut options =
                    service.subscription_of(&node, jid.as_str(), subid.as_deref()).await.map_err(refusal)?.options;
                options.apply(&form)?;
                service.set_options(&node, jid.as_str(), subid.as_deref(), options).await.map_err(refusal)?;
                Ok(None)
            }
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// Subscribes `jid`, a JID of the requester's own, to a node.
    async fn subscribe(
        &self,
        ctx: &Ctx,
        from: &Jid,
        owner: &BareJid,
        node: String,
        jid: Jid,
        options: SubOptions,
    ) -> IqResult {
        own_jid(from, &jid)?;
        let audience = Audience::load(ctx, owner, &node).await?;
        let who = from.to_bare();
        let actor = Actor { jid: who.as_str(), relation: audience.relation(&who) };
        let (config, subscription, new) = self
            .nodes(ctx, owner)
            .subscribe(&actor, &node, jid.as_str(), new_subid(), options)
            .await
            .map_err(refusal)?;
        if new && config.send_last_published_item != SendLast::Never {
            self.send_last(ctx, owner, &node, &config, jid.as_str()).await?;
        }
        Ok(Some(subscription_answer(node, jid, subscription)))
    }

    pub(crate) async fn user_get(self: Arc<Self>, ctx: Ctx, iq: Iq<ps::Request>) -> IqResult {
        let (from, owner) = (iq.from.clone(), iq.account());
        match iq.payload {
            ps::Request { items: Some(items), rsm, .. } => self.items(&ctx, &from, &owner, items, rsm).await,
            ps::Request { affiliations: Some(_), .. } => {
                let mut out = ps::Affiliations::default();
                for (node, _) in ctx.db.pubsub().nodes(owner.as_str()).await.map_err(storage_failure)? {
                    let affiliation = if from.to_bare() == owner {
                        Some(Affiliation::Owner)
                    } else {
                        let all = ctx.db.pubsub().affiliations(owner.as_str(), &node).await.map_err(storage_failure)?;
                        all.into_iter().find(|(j, _)| *j == from.to_bare().as_str()).map(|(_, a)| a)
                    };
                    if let Some(a) = affiliation.and_then(wire_affiliation) {
                        out.items.push(ps::AffiliationOf { node, affiliation: a });
                    }
                }
                Ok(Some(wrap(ns::PUBSUB, out.into())))
            }
            ps::Request { subscriptions: Some(_), .. } => {
                let mut out = ps::Subscriptions::default();
                let mine = ctx.db.pubsub().subscriptions_of(owner.as_str(), from.to_bare().as_str()).await;
                for (node, s) in mine.map_err(storage_failure)? {
                    let Ok(jid) = Jid::new(&s.jid) else { continue };
                    let subscription = wire_state(s.state);
                    out.items.push(ps::SubscriptionOf { node: Some(node), jid, subid: Some(s.subid), subscription });
                }
                Ok(Some(wrap(ns::PUBSUB, out.into())))
            }
            ps::Request { options: Some(ps::Options { node, jid, subid, .. }), .. } => {
                let (node, jid) = (node_of(node)?, jid.unwrap_or_else(|| from.clone()));
                own_jid(&from, &jid)?;
                let subscription = self
                    .nodes(&ctx, &owner)
                    .subscription_of(&node, jid.as_str(), subid.as_deref())
                    .await
                    .map_err(refusal)?;
                Ok(Some(options_answer(node, jid, subscription.subid, &subscription.options)))
            }
            ps::Request { default: Some(_), .. } => Ok(Some(shared::default_options())),
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// XEP-0060 §6.5, for those the node's access model lets see it.
    async fn items(
        &self,
        ctx: &Ctx,
        from: &Jid,
        owner: &BareJid,
        request: ps::Items,
        rsm: Option<SetQuery>,
    ) -> IqResult {
        let node = node_of(request.node.clone())?;
        let config = self.existing(ctx, owner, &node).await?;
        Audience::load(ctx, owner, &node).await?.check(&config, &from.to_bare())?;
        let query = ItemsQuery {
            service: owner.as_str(),
            node: &node,
            config: &config,
            request,
            rsm,
            limit: self.config.get().max_items,
        };
        Ok(Some(shared::items(ctx, query).await?))
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
                let mut out = owner::Subscriptions { node: Some(node.clone()), items: Vec::new() };
                for s in ctx.db.pubsub().subscriptions(owner.as_str(), &node).await.map_err(storage_failure)? {
                    let Ok(jid) = Jid::new(&s.jid) else { continue };
                    let subscription = wire_state(s.state);
                    out.items.push(owner::SubscriptionItem { jid, subid: Some(s.subid), subscription });
                }
                Ok(Some(wrap(ns::PUBSUB_OWNER, out.into())))
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
                    let affiliation = match shared::affiliation_of(&a.affiliation) {
                        // The account owns its nodes alone; publish-only is not offered.
                        Affiliation::Owner | Affiliation::PublishOnly => {
                            return Err(StanzaError::not_acceptable().with_text("unsupported affiliation change"));
                        }
                        a => a,
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
