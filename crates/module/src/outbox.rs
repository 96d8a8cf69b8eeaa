//! Stanzas a service produces while it holds a lock.

use crate::Ctx;
use rhein_proto::{Element, Jid};

/// Stanzas sent once the caller's lock (a room's, a channel's) is released: a delivery can
/// come straight back to the same service (a bounce, an answer to a relayed IQ), which would
/// otherwise wait on that lock forever.
#[derive(Default)]
pub struct Outbox(Vec<Sending>);

enum Sending {
    One(Element),
    /// One stanza for many recipients, each copy addressed to one of them.
    Many(Element, Vec<Jid>),
}

impl Outbox {
    pub fn push(&mut self, el: Element) {
        self.0.push(Sending::One(el));
    }

    /// Queues `el` for every recipient in `to` (its own `to` is replaced): the router writes
    /// it once for all the sessions it reaches as it is.
    pub fn fan_out(&mut self, el: Element, to: Vec<Jid>) {
        if !to.is_empty() {
            self.0.push(Sending::Many(el, to));
        }
    }

    pub async fn flush(self, ctx: &Ctx) {
        for sending in self.0 {
            match sending {
                Sending::One(el) => ctx.router.route(el).await,
                Sending::Many(el, to) => ctx.router.fan_out(el, to).await,
            }
        }
    }
}
