//! Writes a stanza's handling leaves on their way to disk: archive appends queued for the
//! group commit. A client session collects them ([`collect`]) and goes on to its client's
//! next stanza meanwhile, so one client's messages share commits instead of each waiting for
//! its own; it counts a stanza as handled (XEP-0198) only once they are committed, and lets
//! an IQ in only once everything before it is. Where nobody collects (federation,
//! components, modules' own traffic), [`leave`] waits for the commit itself.

use rhein_storage::{Committing, StorageError};
use std::cell::RefCell;

tokio::task_local! {
    static COLLECTED: RefCell<Vec<Committing>>;
}

/// Runs `handling`, collecting the commits it leaves; returns them.
pub async fn collect(handling: impl Future<Output = ()>) -> Vec<Committing> {
    COLLECTED
        .scope(RefCell::new(Vec::new()), async move {
            handling.await;
            COLLECTED.with(|c| c.take())
        })
        .await
}

/// Leaves `commit` to the session collecting (`Ok(None)`), or waits for it here when none
/// does: whether the append was new.
pub async fn leave(commit: Committing) -> Result<Option<bool>, StorageError> {
    let mut commit = Some(commit);
    let _ = COLLECTED.try_with(|c| c.borrow_mut().extend(commit.take()));
    match commit {
        Some(commit) => commit.await.map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(added: bool) -> Committing {
        Box::pin(std::future::ready(Ok(added)))
    }

    #[tokio::test]
    async fn a_collecting_session_gets_the_commits_and_others_wait_for_them() {
        assert_eq!(leave(ready(true)).await.unwrap(), Some(true), "nobody collects");
        let collected = collect(async {
            assert_eq!(leave(ready(true)).await.unwrap(), None);
            assert_eq!(leave(ready(false)).await.unwrap(), None);
        })
        .await;
        let mut results = Vec::new();
        for commit in collected {
            results.push(commit.await.unwrap());
        }
        assert_eq!(results, [true, false]);
    }
}
