//! Who may see a personal node (XEP-0060 §4.5 access models, XEP-0163 §4.2): the owner always;
//! others by the node's access model, judged against the owner's roster and the node's
//! affiliations, loaded once per operation.

use crate::config::{Access, NodeConfig};
use rhein_module::{Ctx, storage_failure};
use rhein_proto::{BareJid, Element, StanzaError, ns};
use rhein_storage::RosterRow;
use std::collections::HashMap;

pub(crate) struct Audience {
    owner: BareJid,
    roster: HashMap<String, RosterRow>,
    affiliations: HashMap<String, String>,
}

fn app(condition: &str) -> Element {
    Element::bare(condition, ns::PUBSUB_ERRORS)
}

impl Audience {
    pub(crate) async fn load(ctx: &Ctx, owner: &BareJid, node: &str) -> Result<Self, StanzaError> {
        let roster = ctx.db.roster().items(owner.as_str()).await.map_err(storage_failure)?;
        let affiliations = ctx.db.pubsub().affiliations(owner.as_str(), node).await.map_err(storage_failure)?;
        Ok(Self {
            owner: owner.clone(),
            roster: roster.iter().map(|r| (r.contact.clone(), r.clone())).collect(),
            affiliations: affiliations.into_iter().collect(),
        })
    }

    /// Contacts subscribed to the owner's presence: the implicit subscribers of PEP.
    pub(crate) fn presence_subscribers(&self) -> impl Iterator<Item = &str> {
        self.roster.values().filter(|r| r.subscription.from()).map(|r| r.contact.as_str())
    }

    /// Whether `who` may see the node's items, with the error XEP-0060 §6.5.9 prescribes if not.
    pub(crate) fn check(&self, config: &NodeConfig, who: &BareJid) -> Result<(), StanzaError> {
        if *who == self.owner {
            return Ok(());
        }
        let affiliation = self.affiliations.get(who.as_str()).map(String::as_str);
        if affiliation == Some("outcast") {
            return Err(StanzaError::forbidden());
        }
        let item = self.roster.get(who.as_str());
        match config.access_model {
            Access::Open => Ok(()),
            Access::Presence if item.is_some_and(|r| r.subscription.from()) => Ok(()),
            Access::Presence => Err(StanzaError::not_authorized().with_app(app("presence-subscription-required"))),
            Access::Roster
                if item.is_some_and(|r| r.groups.iter().any(|g| config.roster_groups_allowed.contains(g))) =>
            {
                Ok(())
            }
            Access::Roster => Err(StanzaError::not_authorized().with_app(app("not-in-roster-group"))),
            Access::Whitelist if matches!(affiliation, Some("member" | "publisher" | "owner")) => Ok(()),
            Access::Whitelist => Err(StanzaError::not_allowed().with_app(app("closed-node"))),
        }
    }
}
