//! Stanzas a service produces while it holds a lock.

use crate::Ctx;
use rhein_proto::Element;

/// Stanzas sent once the caller's lock (a room's, a channel's) is released: a delivery can
/// come straight back to the same service (a bounce, an answer to a relayed IQ), which would
/// otherwise wait on that lock forever.
#[derive(Default)]
pub struct Outbox(Vec<Element>);

impl Outbox {
    pub fn push(&mut self, el: Element) {
        self.0.push(el);
    }

    pub async fn flush(self, ctx: &Ctx) {
        for el in self.0 {
            ctx.router.route(el).await;
        }
    }
}
