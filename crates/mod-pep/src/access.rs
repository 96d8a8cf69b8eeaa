//! Who may see a personal node (XEP-0060 §4.5 access models, XEP-0163 §4.2), asked of the
//! pubsub engine with what the owner's roster and the node's affiliations say of the viewer,
//! loaded once per operation.

use rhein_module::pubsub::denial;
use rhein_module::{Ctx, storage_failure};
use rhein_proto::{BareJid, StanzaError};
use rhein_pubsub::{Action, Affiliation, NodeConfig, Relation, may};
use rhein_storage::RosterRow;
use std::collections::HashMap;

pub(crate) struct Audience {
    owner: BareJid,
    roster: HashMap<String, RosterRow>,
    affiliations: HashMap<String, Affiliation>,
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

    /// `who`'s affiliation with the node: the owner's own account owns it.
    fn affiliation(&self, who: &BareJid) -> Affiliation {
        if *who == self.owner {
            return Affiliation::Owner;
        }
        self.affiliations.get(who.as_str()).copied().unwrap_or_default()
    }

    /// What the owner's roster says of `who`.
    pub(crate) fn relation(&self, who: &BareJid) -> Relation<'_> {
        let item = self.roster.get(who.as_str());
        Relation {
            sees_presence: item.is_some_and(|r| r.subscription.from()),
            groups: item.map_or(&[], |r| r.groups.as_slice()),
            subscribed: false,
        }
    }

    /// Whether `who` may see the node's items (and so receive its notifications).
    pub(crate) fn check(&self, config: &NodeConfig, who: &BareJid) -> Result<(), StanzaError> {
        may(config, self.affiliation(who), &self.relation(who), Action::Retrieve).map_err(denial)
    }
}
