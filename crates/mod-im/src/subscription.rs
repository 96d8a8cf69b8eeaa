//! RFC 6121 §3: the subscription state machine, on the user's side (outbound requests and
//! answers) and on the contact's side (inbound ones), including pre-approval (§3.4) and
//! requests kept until an offline user comes back (§3.1.3).

use crate::roster::{self, RosterLimit};
use crate::{internal, invited, presence};
use rhein_module::{Ctx, Flow, Stanza};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, xml};
use rhein_storage::RosterRow;

/// Routes a subscription-type presence from `from` (bare, as RFC 6121 requires) to `to`.
pub(crate) async fn send(ctx: &Ctx, from: &BareJid, to: &BareJid, kind: &str) {
    let mut p = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", kind);
    xml::set_attr(&mut p, "from", from.as_str());
    xml::set_attr(&mut p, "to", to.as_str());
    ctx.router.route(p).await;
}

async fn row(ctx: &Ctx, owner: &BareJid, contact: &BareJid) -> Result<Option<RosterRow>, StanzaError> {
    ctx.db.roster().item(owner.as_str(), contact.as_str()).await.map_err(internal)
}

/// A subscription stanza sent by the local user `owner` to `contact`. The roster changes under
/// the account's roster lock; the stanza is routed after it is released. A request or an
/// approval that would add an item to a full roster is refused before anything changes.
pub(crate) async fn outbound(
    ctx: &Ctx,
    owner: &BareJid,
    contact: &BareJid,
    kind: &str,
    el: Element,
    limit: RosterLimit,
) -> Result<(), StanzaError> {
    let mut el = el;
    xml::set_attr(&mut el, "from", owner.as_str());
    xml::set_attr(&mut el, "to", contact.as_str());
    match kind {
        "subscribe" => {
            {
                let _roster = roster::lock(owner).await;
                let mut r = roster::item_or_new(ctx, owner, contact, limit).await?;
                if !r.subscription.to() && !r.ask {
                    r.ask = true;
                    roster::save(ctx, owner, &r).await?;
                }
            }
            ctx.router.route(el).await;
        }
        "subscribed" => {
            let approved = {
                let _roster = roster::lock(owner).await;
                let mut r = roster::item_or_new(ctx, owner, contact, limit).await?;
                let pending =
                    ctx.db.subscription_requests().remove(owner.as_str(), contact.as_str()).await.map_err(internal)?;
                if r.subscription.from() {
                    return Ok(());
                }
                if pending {
                    r.subscription = r.subscription.with_from();
                    r.approved = false;
                    roster::save(ctx, owner, &r).await?;
                } else if !r.approved {
                    // No request yet: remember the approval (RFC 6121 §3.4).
                    r.approved = true;
                    roster::save(ctx, owner, &r).await?;
                }
                pending
            };
            if approved {
                ctx.router.route(el).await;
                presence::send_current(ctx, owner, contact).await;
            }
        }
        "unsubscribe" => {
            {
                let _roster = roster::lock(owner).await;
                if let Some(mut r) = row(ctx, owner, contact).await?
                    && (r.subscription.to() || r.ask)
                {
                    r.subscription = r.subscription.without_to();
                    r.ask = false;
                    roster::save(ctx, owner, &r).await?;
                }
            }
            ctx.router.route(el).await;
        }
        "unsubscribed" => {
            let (deliver, had_from) = {
                let _roster = roster::lock(owner).await;
                let pending =
                    ctx.db.subscription_requests().remove(owner.as_str(), contact.as_str()).await.map_err(internal)?;
                match row(ctx, owner, contact).await? {
                    Some(mut r) if r.subscription.from() || r.approved => {
                        let had_from = r.subscription.from();
                        r.subscription = r.subscription.without_from();
                        r.approved = false;
                        roster::save(ctx, owner, &r).await?;
                        (true, had_from)
                    }
                    _ => (pending, false),
                }
            };
            if deliver {
                ctx.router.route(el).await;
            }
            if had_from {
                presence::send_unavailable(ctx, owner, contact).await;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A subscription stanza from `contact` to the local user `owner`. Returns whether it should be
/// delivered to the user's resources. A request from someone who is not in a full roster
/// could never be approved: the contact is told so (`not-allowed`) instead.
pub(crate) async fn inbound(
    ctx: &Ctx,
    owner: &BareJid,
    contact: &BareJid,
    kind: &str,
    stanza: Stanza,
    limit: RosterLimit,
) -> Result<Flow, StanzaError> {
    // Held until the roster is settled; answers are routed after it is released.
    let roster_lock = roster::lock(owner).await;
    let current = row(ctx, owner, contact).await?;
    // Subscription stanzas are always about bare JIDs.
    let mut el = stanza.el;
    xml::set_attr(&mut el, "from", contact.as_str());
    xml::set_attr(&mut el, "to", owner.as_str());
    let bare = |el| Stanza { kind: stanza.kind, from: Jid::from(contact.clone()), to: Jid::from(owner.clone()), el };
    match kind {
        "subscribe" => {
            let known = current.is_some();
            // A token is used only where it can do its work: not for a full roster.
            let preauthorized = match (&current, invited::token(&el)) {
                (Some(r), _) if r.subscription.from() || r.approved => false,
                (_, Some(token)) if known || limit.has_room(ctx, owner).await? => {
                    invited::redeem(ctx, owner, contact, &token).await?
                }
                _ => false,
            };
            let newly_approved = match current {
                Some(r) if r.subscription.from() => false,
                Some(mut r) if r.approved => {
                    r.subscription = r.subscription.with_from();
                    r.approved = false;
                    roster::save(ctx, owner, &r).await?;
                    true
                }
                // XEP-0379: a token of the owner's invites approves the request at once.
                current if preauthorized => {
                    let mut r = match current {
                        Some(r) => r,
                        None => roster::item_or_new(ctx, owner, contact, limit).await?,
                    };
                    r.subscription = r.subscription.with_from();
                    r.approved = false;
                    roster::save(ctx, owner, &r).await?;
                    drop(roster_lock);
                    send(ctx, owner, contact, "subscribed").await;
                    invited::ask_back(ctx, owner, contact, limit).await;
                    return Ok(Flow::Handled);
                }
                _ => {
                    if !known && !limit.has_room(ctx, owner).await? {
                        drop(roster_lock);
                        ctx.router.route(limit.refusal().reply_to(&el)).await;
                        return Ok(Flow::Handled);
                    }
                    // Kept until answered; delivered now to available resources, later on login.
                    let stanza = xml::to_string(&el);
                    ctx.db
                        .subscription_requests()
                        .put(owner.as_str(), contact.as_str(), &stanza)
                        .await
                        .map_err(internal)?;
                    return Ok(Flow::Continue(bare(el)));
                }
            };
            drop(roster_lock);
            send(ctx, owner, contact, "subscribed").await;
            if newly_approved {
                presence::send_current(ctx, owner, contact).await;
            }
            Ok(Flow::Handled)
        }
        "subscribed" => match current {
            Some(mut r) if r.ask => {
                r.subscription = r.subscription.with_to();
                r.ask = false;
                roster::save(ctx, owner, &r).await?;
                Ok(Flow::Continue(bare(el)))
            }
            _ => Ok(Flow::Handled),
        },
        "unsubscribe" => {
            let pending =
                ctx.db.subscription_requests().remove(owner.as_str(), contact.as_str()).await.map_err(internal)?;
            match current {
                Some(mut r) if r.subscription.from() => {
                    r.subscription = r.subscription.without_from();
                    roster::save(ctx, owner, &r).await?;
                    Ok(Flow::Continue(bare(el)))
                }
                _ if pending => Ok(Flow::Continue(bare(el))),
                _ => Ok(Flow::Handled),
            }
        }
        "unsubscribed" => match current {
            Some(mut r) if r.subscription.to() || r.ask => {
                r.subscription = r.subscription.without_to();
                r.ask = false;
                roster::save(ctx, owner, &r).await?;
                Ok(Flow::Continue(bare(el)))
            }
            _ => Ok(Flow::Handled),
        },
        _ => Ok(Flow::Continue(bare(el))),
    }
}
