//! The `pubsub` namespace on the service (XEP-0060 §5–§7): entity use cases, publisher use
//! cases and node creation.

use crate::service::{Pubsub, Requester};
use rhein_module::pubsub::{
    self as shared, ItemsQuery, NodeForm, Publication, SubOptionsForm, adapter, data_form, node_of, own_jid,
    pubsub_error, refusal, subscription_answer, wire_affiliation, wire_state, wrap,
};
use rhein_module::{Ctx, IqResult, storage_failure};
use rhein_proto::pubsub as ps;
use rhein_proto::{Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Action, Affiliation, Item, NodeConfig, SendLast, SubOptions, SubState};
use rhein_storage::new_subid;

impl Pubsub {
    pub(crate) async fn user_set(&self, ctx: &Ctx, who: &Requester, request: ps::Request) -> IqResult {
        match request {
            ps::Request { publish: Some(publish), publish_options, .. } => {
                self.publish(ctx, who, Publication::read(publish, publish_options)?).await
            }
            ps::Request { create: Some(create), configure, .. } => {
                self.create(ctx, who, create.node, data_form(configure.and_then(|c| c.form))).await
            }
            ps::Request { retract: Some(retract), .. } => {
                let (service, node) = (self.address(ctx), node_of(retract.node)?);
                let ids: Vec<String> = retract.items.into_iter().filter_map(|i| i.id).collect();
                if ids.is_empty() {
                    return Err(StanzaError::bad_request().with_app(pubsub_error("item-required")));
                }
                let standing = self.standing(ctx, &service, &node, who).await?;
                let engine = self.engine(ctx, &service, who);
                let notice = engine.retract(&Self::actor(who, &standing), &node, &ids, retract.notify).await;
                self.notify(ctx, &service, notice.map_err(refusal)?).await?;
                Ok(None)
            }
            ps::Request { subscribe: Some(ps::Subscribe { node, jid }), options, .. } => {
                let mut chosen = SubOptions::default();
                if let Some(form) = data_form(options.and_then(|o| o.form)) {
                    chosen.apply(&form)?;
                }
                self.subscribe(ctx, who, node_of(node)?, jid, chosen).await
            }
            ps::Request { unsubscribe: Some(ps::Unsubscribe { node, jid, subid }), .. } => {
                let (service, node) = (self.address(ctx), node_of(node)?);
                // The subscriber itself, or an owner of the node, may end a subscription.
                if own_jid(&who.jid, &jid).is_err() {
                    self.allowed(ctx, &service, &node, who, Action::Manage)
                        .await
                        .map_err(|_| StanzaError::bad_request().with_app(pubsub_error("invalid-jid")))?;
                }
                self.engine(ctx, &service, who)
                    .unsubscribe(&node, jid.as_str(), subid.as_deref())
                    .await
                    .map_err(refusal)?;
                Ok(None)
            }
            ps::Request { options: Some(ps::Options { node, jid, subid, form }), .. } => {
                let (service, node) = (self.address(ctx), node_of(node)?);
                let jid = jid.unwrap_or_else(|| who.jid.clone());
                own_jid(&who.jid, &jid)?;
                let form =
                    data_form(form).ok_or_else(|| StanzaError::bad_request().with_text("options need a form"))?;
                let engine = self.engine(ctx, &service, who);
                let current = engine.subscription_of(&node, jid.as_str(), subid.as_deref()).await.map_err(refusal)?;
                let mut options = current.options;
                options.apply(&form)?;
                engine.set_options(&node, jid.as_str(), subid.as_deref(), options).await.map_err(refusal)?;
                Ok(None)
            }
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// §7.1: one item with one payload; the node is created first where `auto-create` lets
    /// the publisher (who then owns it).
    async fn publish(&self, ctx: &Ctx, who: &Requester, publication: Publication) -> IqResult {
        let Publication { node, id, payload, options } = publication;
        let service = self.address(ctx);
        let payload = xml::to_string(&payload);
        if payload.len() > self.config.get().max_payload_bytes {
            return Err(StanzaError::not_acceptable().with_app(pubsub_error("payload-too-big")));
        }
        let row = Item { id: id.clone(), publisher: who.jid.to_string(), payload };
        // Whether publishing may create the node, or why not (checked only when it could).
        let creation = if self.config.get().autocreate_on_publish && self.may_create(ctx, who) {
            self.within_owner_quota(ctx, &service, who).await
        } else {
            Err(StanzaError::item_not_found().with_text("no such node"))
        };
        let mut created = false;
        let configured = |existing: Option<NodeConfig>| {
            let config = match (existing, options.as_ref(), &creation) {
                (Some(existing), Some(options), _) => existing.check_preconditions(options).map(|()| existing),
                (Some(existing), None, _) => Ok(existing),
                (None, _, Err(refused)) => Err(refused.clone()),
                (None, options, Ok(())) => {
                    created = true;
                    let mut config = self.default_config();
                    options.map_or(Ok(()), |options| config.apply(options)).map(|()| config)
                }
            };
            config.map_err(adapter)
        };
        let standing = self.standing(ctx, &service, &node, who).await?;
        let engine = self.engine(ctx, &service, who);
        let notice = engine.publish(&Self::actor(who, &standing), &node, row, configured).await.map_err(refusal)?;
        if created {
            self.own(ctx, &service, &node, who).await?;
        }
        self.notify(ctx, &service, notice).await?;
        Ok(Some(Publication::answer(&node, &id)))
    }

    /// Makes the creator of a node its owner.
    async fn own(&self, ctx: &Ctx, service: &str, node: &str, who: &Requester) -> Result<(), StanzaError> {
        let pubsub = ctx.db.pubsub();
        pubsub.set_affiliation(service, node, who.bare.as_str(), Affiliation::Owner).await.map_err(storage_failure)
    }

    /// §8.1: a named node, or an instant one (the service names it and says so).
    async fn create(&self, ctx: &Ctx, who: &Requester, node: Option<String>, form: Option<Element>) -> IqResult {
        if !self.may_create(ctx, who) {
            return Err(StanzaError::forbidden().with_text("you may not create nodes here"));
        }
        let service = self.address(ctx);
        self.within_owner_quota(ctx, &service, who).await?;
        let node = node.filter(|n| !n.is_empty()).unwrap_or_else(xml::random_id);
        let mut config = self.default_config();
        if let Some(form) = form {
            config.apply(&form)?;
        }
        self.engine(ctx, &service, who).create(&node, &config).await.map_err(refusal)?;
        self.own(ctx, &service, &node, who).await?;
        let create = xml::with_attr(Element::bare("create", ns::PUBSUB), "node", node);
        Ok(Some(wrap(ns::PUBSUB, create)))
    }

    /// `max_nodes_per_owner`: one account does not fill the service (administrators may).
    async fn within_owner_quota(&self, ctx: &Ctx, service: &str, who: &Requester) -> Result<(), StanzaError> {
        if !who.admins.is_empty() {
            return Ok(());
        }
        let held = ctx.db.pubsub().affiliations_of(service, who.bare.as_str()).await.map_err(storage_failure)?;
        let owned = held.iter().filter(|(_, a)| *a == Affiliation::Owner).count();
        if owned >= self.config.get().max_nodes_per_owner {
            return Err(StanzaError::policy_violation().with_text("you own as many nodes as one account may"));
        }
        Ok(())
    }

    /// §6.1: subscribes a JID of the requester's own; on an `authorize` node the owners are
    /// asked, and the subscription stays pending until one of them answers.
    async fn subscribe(&self, ctx: &Ctx, who: &Requester, node: String, jid: Jid, options: SubOptions) -> IqResult {
        own_jid(&who.jid, &jid)?;
        let service = self.address(ctx);
        let standing = self.standing(ctx, &service, &node, who).await?;
        let engine = self.engine(ctx, &service, who);
        let (config, subscription, new) = engine
            .subscribe(&Self::actor(who, &standing), &node, jid.as_str(), new_subid(), options)
            .await
            .map_err(refusal)?;
        if new && subscription.state == SubState::Pending {
            crate::approval::ask_owners(ctx, &service, &node, &jid).await?;
        }
        if new && subscription.state == SubState::Subscribed && config.send_last_published_item != SendLast::Never {
            self.send_last(ctx, &service, &node, &config, jid.as_str()).await?;
        }
        Ok(Some(subscription_answer(node, jid, subscription)))
    }

    pub(crate) async fn user_get(&self, ctx: &Ctx, who: &Requester, request: ps::Request) -> IqResult {
        let service = self.address(ctx);
        match request {
            ps::Request { items: Some(items), rsm, .. } => {
                let node = node_of(items.node.clone())?;
                let config = self.allowed(ctx, &service, &node, who, Action::Retrieve).await?;
                let query = ItemsQuery {
                    service: &service,
                    node: &node,
                    config: &config,
                    request: items,
                    rsm,
                    limit: self.config.get().max_items,
                };
                Ok(Some(shared::items(ctx, query).await?))
            }
            ps::Request { subscriptions: Some(asked), .. } => {
                let mut out = ps::Subscriptions { node: asked.node.clone(), items: Vec::new() };
                let mine =
                    ctx.db.pubsub().subscriptions_of(&service, who.bare.as_str()).await.map_err(storage_failure)?;
                for (node, s) in mine {
                    if asked.node.as_ref().is_some_and(|n| *n != node) {
                        continue;
                    }
                    let Ok(jid) = Jid::new(&s.jid) else { continue };
                    let subscription = wire_state(s.state);
                    out.items.push(ps::SubscriptionOf { node: Some(node), jid, subid: Some(s.subid), subscription });
                }
                Ok(Some(wrap(ns::PUBSUB, out.into())))
            }
            ps::Request { affiliations: Some(asked), .. } => {
                let mut out = ps::Affiliations { node: asked.node.clone(), items: Vec::new() };
                let mine =
                    ctx.db.pubsub().affiliations_of(&service, who.bare.as_str()).await.map_err(storage_failure)?;
                for (node, a) in mine {
                    if asked.node.as_ref().is_some_and(|n| *n != node) {
                        continue;
                    }
                    if let Some(affiliation) = wire_affiliation(a) {
                        out.items.push(ps::AffiliationOf { node, affiliation });
                    }
                }
                Ok(Some(wrap(ns::PUBSUB, out.into())))
            }
            ps::Request { options: Some(ps::Options { node, jid, subid, .. }), .. } => {
                let node = node_of(node)?;
                let jid = jid.unwrap_or_else(|| who.jid.clone());
                own_jid(&who.jid, &jid)?;
                let engine = self.engine(ctx, &service, who);
                let s = engine.subscription_of(&node, jid.as_str(), subid.as_deref()).await.map_err(refusal)?;
                Ok(Some(shared::options_answer(node, jid, s.subid, &s.options)))
            }
            ps::Request { default: Some(_), .. } => Ok(Some(shared::default_options())),
            _ => Err(StanzaError::bad_request()),
        }
    }
}
