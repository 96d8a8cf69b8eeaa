//! The service: which channel a stanza is for, channels loaded on demand, the service's own
//! IQs (discovery, create, destroy) and the channel's discovery.

use crate::MixConfig;
use crate::channel::{Channel, ChannelConfig, Info};
use crate::{misc, notify, store};
use rhein_module::{Ctx, Current, Entities, Outbox, Shared, Stanza};
use rhein_proto::mix::{Create, Destroy, nodes};
use rhein_proto::parsers::disco::{self, DiscoInfoResult, DiscoItemsResult, Identity};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, time, xml};
use std::sync::Arc;

pub(crate) type ChannelRef = Shared<Channel>;

pub(crate) struct Mix {
    pub config: Current<MixConfig>,
    /// Channels looked at since the start; small, and every change is written through.
    channels: Entities<Channel>,
    /// IQs relayed between participants, waiting for their answers.
    pub(crate) pending_iqs: crate::private::PendingIqs,
}

/// The payload of an IQ get or set, and which of the two it is.
pub(crate) struct Request<'a> {
    pub from: &'a Jid,
    /// The requester's bare JID: participants are users, not clients.
    pub who: BareJid,
    pub payload: &'a Element,
    pub set: bool,
}

impl Request<'_> {
    pub(crate) fn is(&self, set: bool, ns: &str, name: &str) -> bool {
        self.set == set && self.payload.is(name, ns)
    }
}

impl Mix {
    pub(crate) fn new(config: MixConfig) -> Self {
        Self { config: Current::new(config), channels: Entities::default(), pending_iqs: Default::default() }
    }

    /// Channels in memory on every host (occupied since start, or looked at).
    pub(crate) fn channels_in_memory(&self) -> usize {
        self.channels.len()
    }

    /// The service's domain for the host of `ctx`.
    pub(crate) fn domain(&self, ctx: &Ctx) -> String {
        format!("{}.{}", self.config.get().subdomain, ctx.host)
    }

    /// Everything addressed to the service, a channel, or a participant's encoded JID.
    pub(crate) async fn handle(self: Arc<Self>, ctx: Ctx, stanza: Stanza) {
        let Stanza { kind, from, to, el } = stanza;
        let to_participant = to.node().is_some_and(|n| n.as_str().contains('#'));
        // Errors are answers to no one, unless they answer a relayed IQ.
        if matches!(el.attr("type"), Some("error")) && !(to_participant && kind == StanzaKind::Iq) {
            return;
        }
        let mut out = Outbox::default();
        let result = match (to.node(), kind) {
            (None, StanzaKind::Iq) => self.service_iq(&ctx, &mut out, &from, &el).await,
            (None, _) => Err(StanzaError::service_unavailable()),
            (Some(node), StanzaKind::Message) if node.as_str().contains('#') => {
                self.private_message(&ctx, &mut out, &from, &to, &el).await
            }
            (Some(node), StanzaKind::Iq) if node.as_str().contains('#') => {
                self.relayed_iq(&ctx, &mut out, &from, &to, &el).await
            }
            (Some(node), _) if node.as_str().contains('#') => {
                Err(StanzaError::service_unavailable().with_text("presence goes to the channel, not to a participant"))
            }
            (Some(_), StanzaKind::Iq) => self.channel_iq(&ctx, &mut out, &from, &to.to_bare(), &el).await,
            (Some(_), StanzaKind::Message) => self.message(&ctx, &mut out, &from, &to.to_bare(), &el).await,
            (Some(_), StanzaKind::Presence) => self.presence(&ctx, &mut out, &from, &to.to_bare(), &el).await,
        };
        // Every channel lock is released by now.
        out.flush(&ctx).await;
        if let Err(e) = result
            && !matches!(el.attr("type"), Some("result" | "error"))
        {
            ctx.router.route(e.reply_to(&el)).await;
        }
    }

    /// A channel, from memory or storage; `None` if it does not exist.
    pub(crate) async fn channel(&self, ctx: &Ctx, jid: &BareJid) -> Result<Option<ChannelRef>, StanzaError> {
        if let Some(c) = self.channels.get(jid) {
            return Ok(Some(c));
        }
        let Some(channel) = store::load(ctx, jid).await? else { return Ok(None) };
        // Another stanza may have loaded it meanwhile: keep the first.
        Ok(Some(self.channels.get_or_insert(jid, || channel).0))
    }

    /// The channel a stanza is for, or `item-not-found`.
    pub(crate) async fn existing(&self, ctx: &Ctx, jid: &BareJid) -> Result<ChannelRef, StanzaError> {
        self.channel(ctx, jid).await?.ok_or_else(|| StanzaError::item_not_found().with_text("no such channel"))
    }

    async fn service_iq(&self, ctx: &Ctx, out: &mut Outbox, from: &Jid, el: &Element) -> Result<(), StanzaError> {
        if matches!(el.attr("type"), Some("result")) {
            return Ok(());
        }
        let payload = el.children().next().ok_or_else(StanzaError::bad_request)?;
        let who = from.to_bare();
        let answer = match (el.attr("type"), payload.ns().as_str(), payload.name()) {
            (Some("get"), ns::DISCO_INFO, "query") if payload.attr("node").is_none() => {
                let mut features = vec![
                    ns::DISCO_INFO,
                    ns::DISCO_ITEMS,
                    ns::MIX_CORE,
                    "urn:xmpp:mix:core:1#searchable",
                    misc::NICK_REGISTER,
                ];
                if self.may_create(ctx, &who) {
                    features.push("urn:xmpp:mix:core:1#create-channel");
                }
                disco_info(None, &self.config.get().name, &features).into()
            }
            (Some("get"), ns::DISCO_ITEMS, "query") if payload.attr("node").is_none() => {
                self.listed_channels(ctx, &who).await?
            }
            (Some("set"), ns::MIX_CORE, "create") => self.create(ctx, &who, payload).await?,
            (Some("set"), ns::MIX_MISC, "register") => self.register(ctx, out, &who, payload).await?,
            (Some("set"), ns::MIX_CORE, "destroy") => {
                self.destroy(ctx, out, &who, payload).await?;
                out.push(xml::iq_result(el, None));
                return Ok(());
            }
            _ => return Err(StanzaError::service_unavailable()),
        };
        out.push(xml::iq_result(el, Some(answer)));
        Ok(())
    }

    /// Local accounts may create channels; anyone if the service is configured so.
    fn may_create(&self, ctx: &Ctx, who: &BareJid) -> bool {
        who.node().is_some() && (self.config.get().anyone_creates || who.domain().as_str() == &*ctx.host)
    }

    /// Channels that are not ad hoc and that the requester may join (XEP-0369 §6.2).
    async fn listed_channels(&self, ctx: &Ctx, who: &BareJid) -> Result<Element, StanzaError> {
        let mut items = Vec::new();
        for jid in store::channels(ctx, &self.domain(ctx)).await? {
            let Some(c) = self.channel(ctx, &jid).await? else { continue };
            let c = c.lock().await;
            if c.config.adhoc || !c.may_join(who) {
                continue;
            }
            let name = Some(c.info.name.clone()).filter(|n| !n.is_empty());
            items.push(disco::Item { jid: jid.into(), node: None, name });
        }
        Ok(DiscoItemsResult { node: None, items, rsm: None }.into())
    }

    /// XEP-0369 §8.1 and §8.2: a named channel, or one the service names for ad hoc use.
    async fn create(&self, ctx: &Ctx, who: &BareJid, payload: &Element) -> Result<Element, StanzaError> {
        if !self.may_create(ctx, who) {
            return Err(StanzaError::forbidden().with_text("only accounts of this server create channels here"));
        }
        let request = rhein_module::payload::<Create>(payload.clone())?;
        let (name, adhoc) = match request.channel {
            Some(name) => (name, false),
            None => (xml::random_id()[..12].to_owned(), true),
        };
        let jid = BareJid::new(&format!("{name}@{}", self.domain(ctx)))
            .ok()
            .filter(|j| j.node().is_some_and(|n| !n.as_str().contains('#')))
            .ok_or_else(|| StanzaError::jid_malformed().with_text("not a valid channel name"))?;
        let mut config = ChannelConfig { adhoc, last_change_by: who.to_string(), ..ChannelConfig::default() };
        let now = time::datetime(rhein_storage::now_ms());
        config.owners.insert(who.to_string());
        config.modified = now.clone();
        let mut channel = Channel::new(jid.clone(), config);
        channel.info =
            Info { name: if adhoc { String::new() } else { name.clone() }, modified: now, ..Info::default() };
        if !store::create(ctx, &channel).await? {
            return Err(StanzaError::conflict().with_text("that channel exists"));
        }
        tracing::info!(channel = %jid, by = %who, "channel created");
        self.channels.get_or_insert(&jid, || channel);
        Ok(Element::from(Create { channel: Some(name) }))
    }

    /// XEP-0369 §8.3: owners destroy their channel. Each participant's server is told that
    /// participant's item is gone from the participants node, as for a removal, so it drops
    /// the channel from the user's roster.
    async fn destroy(&self, ctx: &Ctx, out: &mut Outbox, who: &BareJid, payload: &Element) -> Result<(), StanzaError> {
        let request = rhein_module::payload::<Destroy>(payload.clone())?;
        let jid = BareJid::new(&format!("{}@{}", request.channel, self.domain(ctx)))
            .map_err(|_| StanzaError::jid_malformed())?;
        let channel = self.existing(ctx, &jid).await?;
        let mut c = channel.lock().await;
        if !c.config.owners.contains(who.as_str()) {
            return Err(StanzaError::forbidden().with_text("only owners destroy a channel"));
        }
        let ids: Vec<String> = c.participants.keys().cloned().collect();
        for id in ids {
            if let Some(member) = c.participants.get(&id) {
                notify::removed(out, &c, &member.jid, &id);
            }
            self.drop_participant(ctx, out, &mut c, &id, false).await?;
        }
        store::destroy(ctx, &jid).await?;
        self.channels.remove(&jid);
        tracing::info!(channel = %jid, by = %who, "channel destroyed");
        Ok(())
    }

    async fn channel_iq(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &Jid,
        jid: &BareJid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        let set = match el.attr("type") {
            Some("get") => false,
            Some("set") => true,
            _ => return Ok(()),
        };
        let mut payloads = el.children();
        let (Some(payload), None) = (payloads.next(), payloads.next()) else {
            return Err(StanzaError::bad_request().with_text("an IQ get or set carries exactly one payload"));
        };
        let channel = self.existing(ctx, jid).await?;
        let mut c = channel.lock().await;
        let req = Request { from, who: from.to_bare(), payload, set };
        let answer = if req.is(true, ns::MIX_CORE, "join") {
            self.join(ctx, out, &mut c, &req).await?
        } else if req.is(true, ns::MIX_CORE, "leave") {
            self.leave(ctx, out, &mut c, &req).await?
        } else if req.is(true, ns::MIX_CORE, "setnick") {
            self.set_nick(ctx, out, &mut c, &req).await?
        } else if req.is(true, ns::MIX_CORE, "update-subscription") {
            self.update_subscription(ctx, &mut c, &req).await?
        } else if payload.is("user-preference", ns::MIX_ANON) {
            self.user_preference(ctx, &mut c, &req).await?
        } else if req.is(false, ns::MIX_MISC, "invite") {
            self.invite(ctx, &mut c, &req).await?
        } else if req.is(false, ns::DISCO_INFO, "query") {
            channel_info(&c, &req)?
        } else if req.is(false, ns::DISCO_ITEMS, "query") {
            channel_nodes(&c, &req)
        } else if payload.is("pubsub", ns::PUBSUB) {
            self.pubsub(ctx, out, &mut c, &req).await?
        } else if payload.is("query", ns::MAM) {
            self.archive_query(ctx, out, &c, &req).await?
        } else {
            return Err(StanzaError::service_unavailable());
        };
        out.push(xml::iq_result(el, answer));
        Ok(())
    }
}

/// disco#info of the service or a channel: a `conference/mix` identity and `features`.
fn disco_info(node: Option<String>, name: &str, features: &[&str]) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        identities: vec![Identity {
            category: "conference".into(),
            type_: "mix".into(),
            lang: None,
            name: Some(name.to_owned()),
        }],
        features: features.iter().map(|f| f.to_string()).collect(),
        extensions: Vec::new(),
    }
}

/// disco#info of a channel, for those allowed to join it (XEP-0369 §6.3).
fn channel_info(c: &Channel, req: &Request<'_>) -> Result<Option<Element>, StanzaError> {
    if !c.may_join(&req.who) {
        return Err(StanzaError::forbidden());
    }
    let name = if c.info.name.is_empty() {
        c.jid.node().map(|n| n.to_string()).unwrap_or_default()
    } else {
        c.info.name.clone()
    };
    let features =
        [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::MIX_CORE, ns::MIX_ADMIN, ns::MIX_MISC, ns::MAM, ns::MIX_PRESENCE];
    let node = req.payload.attr("node").map(str::to_owned);
    Ok(Some(disco_info(node, &name, &features).into()))
}

/// The channel's nodes the requester may subscribe to (XEP-0369 §6.4, `node='mix'`).
fn channel_nodes(c: &Channel, req: &Request<'_>) -> Option<Element> {
    if req.payload.attr("node") != Some("mix") {
        return Some(DiscoItemsResult { node: None, items: Vec::new(), rsm: None }.into());
    }
    let nodes = [
        nodes::PRESENCE,
        nodes::PARTICIPANTS,
        nodes::MESSAGES,
        nodes::INFO,
        nodes::CONFIG,
        nodes::ALLOWED,
        nodes::BANNED,
        nodes::JIDMAP,
        ns::AVATAR_DATA,
        ns::AVATAR_METADATA,
    ];
    let items = nodes
        .into_iter()
        .filter(|node| c.subscribable(node, &req.who))
        .map(|node| disco::Item { jid: c.jid.clone().into(), node: Some(node.to_owned()), name: None })
        .collect();
    Some(DiscoItemsResult { node: Some("mix".into()), items, rsm: None }.into())
}
