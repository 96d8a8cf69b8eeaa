//! Stanzas the session handled whose writes are still on their way to disk (archive appends
//! queued for the group commit, see `rhein_module::commits`), oldest first. The session reads
//! its client's next stanza meanwhile, and counts each for XEP-0198 only once its writes are
//! committed.

use rhein_storage::Committing as Write;
use std::collections::VecDeque;
use std::pin::Pin;

type Stanza = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Default)]
pub(crate) struct Committing {
    /// Per stanza, its writes. They complete in order: the group commit is first in, first out.
    stanzas: VecDeque<Stanza>,
}

impl Committing {
    /// Stanzas waiting for their writes at most; the next one waits for the oldest.
    pub(crate) const MAX: usize = 1024;

    pub(crate) fn is_empty(&self) -> bool {
        self.stanzas.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.stanzas.len()
    }

    /// A handled stanza and the writes it left.
    pub(crate) fn push(&mut self, writes: Vec<Write>) {
        self.stanzas.push_back(Box::pin(async move {
            for write in writes {
                // The stanza went its way already; only the archive lacks it.
                if let Err(e) = write.await {
                    tracing::error!(error = %e, "an archive write failed after its stanza was routed");
                }
            }
        }));
    }

    /// Resolves once the oldest stanza's writes are committed (never, with none waiting).
    pub(crate) async fn next(&mut self) {
        let Some(oldest) = self.stanzas.front_mut() else { return std::future::pending().await };
        oldest.await;
        self.stanzas.pop_front();
    }
}
