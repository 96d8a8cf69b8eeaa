//! The `pubsub#owner` namespace (XEP-0060 §8): configuration, deletion, purging, and the
//! management of subscriptions and affiliations, for a node's owners (and the host's
//! administrators).

use crate::service::{Pubsub, Requester};
use rhein_module::pubsub::{NodeForm, affiliation_of, node_of, refusal, wire_affiliation, wire_state, wrap};
use rhein_module::{Ctx, IqResult, storage_failure};
use rhein_proto::parsers::pubsub::Subscription as WireSubscription;
use rhein_proto::pubsub::owner;
use rhein_proto::{Element, Jid, StanzaError, ns, xml};
use rhein_pubsub::{Action, Affiliation, NodeConfig, SubOptions, SubState, Subscription};
use rhein_storage::new_subid;

impl Pubsub {
    pub(crate) async fn owner_get(&self, ctx: &Ctx, who: &Requester, request: owner::Request) -> IqResult {
        let service = self.address(ctx);
        match request {
            owner::Request { configure: Some(configure), .. } => {
                let node = node_of(configure.node)?;
                let config = self.allowed(ctx, &service, &node, who, Action::Configure).await?;
                let mut configure = xml::with_attr(Element::bare("configure", ns::PUBSUB_OWNER), "node", node);
                configure.append_child(config.to_form("form"));
                Ok(Some(wrap(ns::PUBSUB_OWNER, configure)))
            }
            owner::Request { default: Some(_), .. } => {
                let mut default = Element::bare("default", ns::PUBSUB_OWNER);
                default.append_child(self.default_config().to_form("form"));
                Ok(Some(wrap(ns::PUBSUB_OWNER, default)))
            }
            owner::Request { affiliations: Some(asked), .. } => {
                let node = node_of(asked.node)?;
                self.allowed(ctx, &service, &node, who, Action::Manage).await?;
                let mut out = owner::Affiliations { node: Some(node.clone()), items: Vec::new() };
                for (jid, a) in ctx.db.pubsub().affiliations(&service, &node).await.map_err(storage_failure)? {
                    if let (Ok(jid), Some(affiliation)) = (Jid::new(&jid), wire_affiliation(a)) {
                        out.items.push(owner::Affiliation { jid, affiliation });
                    }
                }
                Ok(Some(wrap(ns::PUBSUB_OWNER, out.into())))
            }
            owner::Request { subscriptions: Some(asked), .. } => {
                let node = node_of(asked.node)?;
                self.allowed(ctx, &service, &node, who, Action::Manage).await?;
                let mut out = owner::Subscriptions { node: Some(node.clone()), items: Vec::new() };
                for s in ctx.db.pubsub().subscriptions(&service, &node).await.map_err(storage_failure)? {
                    let Ok(jid) = Jid::new(&s.jid) else { continue };
                    out.items.push(owner::SubscriptionItem {
                        jid,
                        subid: Some(s.subid),
                        subscription: wire_state(s.state),
                    });
                }
                Ok(Some(wrap(ns::PUBSUB_OWNER, out.into())))
            }
            _ => Err(StanzaError::bad_request()),
        }
    }

    pub(crate) async fn owner_set(&self, ctx: &Ctx, who: &Requester, request: owner::Request) -> IqResult {
        let service = self.address(ctx);
        match request {
            owner::Request { configure: Some(configure), .. } => {
                let node = node_of(configure.node)?;
                let form = configure.form.filter(|f| f.is("x", ns::DATA)).ok_or_else(StanzaError::bad_request)?;
                if form.attr("type") == Some("cancel") {
                    return Ok(None);
                }
                let standing = self.standing(ctx, &service, &node, who).await?;
                let apply = |config: &mut NodeConfig| config.apply(&form).map_err(rhein_module::pubsub::adapter);
                let engine = self.engine(ctx, &service, who);
                let notice = engine.configure(&Self::actor(who, &standing), &node, apply).await.map_err(refusal)?;
                self.notify(ctx, &service, notice).await?;
                Ok(None)
            }
            owner::Request { delete: Some(delete), .. } => {
                let node = node_of(delete.node)?;
                // Whoever is told must be known before the subscriptions go with the node.
                let subscribers = self.subscribers(ctx, &service, &node).await?;
                let standing = self.standing(ctx, &service, &node, who).await?;
                let redirect = delete.redirect.map(|r| r.uri);
                let engine = self.engine(ctx, &service, who);
                let notice = engine.delete(&Self::actor(who, &standing), &node, redirect).await.map_err(refusal)?;
                if let Some(notice) = notice {
                    crate::service::deliver_to(ctx, &service, &notice, &subscribers).await;
                }
                Ok(None)
            }
            owner::Request { purge: Some(purge), .. } => {
                let node = node_of(purge.node)?;
                let standing = self.standing(ctx, &service, &node, who).await?;
                let notice = self.engine(ctx, &service, who).purge(&Self::actor(who, &standing), &node).await;
                self.notify(ctx, &service, notice.map_err(refusal)?).await?;
                Ok(None)
            }
            owner::Request { affiliations: Some(changes), .. } => {
                let node = node_of(changes.node)?;
                self.allowed(ctx, &service, &node, who, Action::Manage).await?;
                self.change_affiliations(ctx, &service, &node, changes.items).await?;
                Ok(None)
            }
            owner::Request { subscriptions: Some(changes), .. } => {
                let node = node_of(changes.node)?;
                self.allowed(ctx, &service, &node, who, Action::Manage).await?;
                let pubsub = ctx.db.pubsub();
                for change in changes.items {
                    let jid = change.jid.as_str();
                    let state = match change.subscription {
                        WireSubscription::Subscribed => SubState::Subscribed,
                        WireSubscription::Pending => SubState::Pending,
                        WireSubscription::None => {
                            pubsub.unsubscribe(&service, &node, jid).await.map_err(storage_failure)?;
                            continue;
                        }
                        WireSubscription::Unconfigured => {
                            return Err(StanzaError::not_acceptable().with_text("subscribed, pending or none"));
                        }
                    };
                    let existing = pubsub.subscription(&service, &node, jid).await.map_err(storage_failure)?;
                    let (subid, options) =
                        existing.map_or_else(|| (new_subid(), SubOptions::default()), |s| (s.subid, s.options));
                    let changed = Subscription { jid: jid.to_owned(), subid, state, options };
                    pubsub.put_subscription(&service, &node, &changed).await.map_err(storage_failure)?;
                }
                Ok(None)
            }
            _ => Err(StanzaError::bad_request()),
        }
    }

    /// §8.9.2: sets each affiliation (`none` removes it). An outcast loses its
    /// subscriptions; a change that would leave the node without an owner is refused whole.
    async fn change_affiliations(
        &self,
        ctx: &Ctx,
        service: &str,
        node: &str,
        changes: Vec<owner::Affiliation>,
    ) -> Result<(), StanzaError> {
        let pubsub = ctx.db.pubsub();
        let mut owners: Vec<String> = pubsub
            .affiliations(service, node)
            .await
            .map_err(storage_failure)?
            .into_iter()
            .filter(|(_, a)| *a == Affiliation::Owner)
            .map(|(jid, _)| jid)
            .collect();
        let changes: Vec<(String, Affiliation)> =
            changes.iter().map(|c| (c.jid.to_bare().to_string(), affiliation_of(&c.affiliation))).collect();
        for (jid, a) in &changes {
            owners.retain(|o| o != jid);
            if *a == Affiliation::Owner {
                owners.push(jid.clone());
            }
        }
        if owners.is_empty() {
            return Err(StanzaError::not_acceptable().with_text("a node keeps at least one owner"));
        }
        for (jid, a) in changes {
            pubsub.set_affiliation(service, node, &jid, a).await.map_err(storage_failure)?;
            if a == Affiliation::Outcast {
                for s in pubsub.subscriptions(service, node).await.map_err(storage_failure)? {
                    if Jid::new(&s.jid).is_ok_and(|j| j.to_bare().as_str() == jid) {
                        pubsub.unsubscribe(service, node, &s.jid).await.map_err(storage_failure)?;
                    }
                }
            }
        }
        Ok(())
    }
}
