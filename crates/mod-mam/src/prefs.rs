//! XEP-0313 §6 archiving preferences: a default (always, never, roster) and JIDs always or
//! never archived.

use rhein_module::{AccountCache, Ctx, Iq, IqResult, storage_failure};
use rhein_proto::parsers::mam_prefs::{DefaultPrefs, Prefs};
use rhein_proto::payload::MamPrefsQuery;
use rhein_proto::{BareJid, Jid, StanzaError};
use rhein_storage::{ArchiveDefault, ArchivePrefs};
use std::sync::Arc;

/// Accounts' preferences, read once and kept: every archived message consults them, and
/// they change only through [`handle_prefs_set`].
pub(crate) type PrefsCache = AccountCache<Arc<ArchivePrefs>>;

/// Accounts whose preferences are kept at most.
pub(crate) const CACHED_ACCOUNTS: usize = 100_000;

async fn prefs(ctx: &Ctx, cache: &PrefsCache, owner: &BareJid) -> Result<Arc<ArchivePrefs>, StanzaError> {
    if let Some(p) = cache.get(owner) {
        return Ok(p);
    }
    let prefs = Arc::new(ctx.db.archive().prefs(owner.as_str()).await.map_err(storage_failure)?);
    cache.insert(owner.clone(), prefs.clone());
    Ok(prefs)
}

/// Whether a message with `with` goes into `owner`'s archive.
pub(crate) async fn should_archive(
    ctx: &Ctx,
    cache: &PrefsCache,
    owner: &BareJid,
    with: &BareJid,
) -> Result<bool, StanzaError> {
    let prefs = prefs(ctx, cache, owner).await?;
    let w = with.to_string();
    if prefs.never.contains(&w) {
        return Ok(false);
    }
    if prefs.always.contains(&w) {
        return Ok(true);
    }
    Ok(match prefs.default_mode {
        ArchiveDefault::Never => false,
        ArchiveDefault::Roster => {
            ctx.db.roster().item(owner.as_str(), with.as_str()).await.map_err(storage_failure)?.is_some()
        }
        ArchiveDefault::Always => true,
    })
}

/// Stored preferences as XEP-0313 writes them. Stored JIDs were checked when they were set.
fn to_wire(p: &ArchivePrefs) -> Prefs {
    let jids = |list: &[String]| list.iter().filter_map(|j| Jid::new(j).ok()).collect();
    let default_ = match p.default_mode {
        ArchiveDefault::Always => DefaultPrefs::Always,
        ArchiveDefault::Never => DefaultPrefs::Never,
        ArchiveDefault::Roster => DefaultPrefs::Roster,
    };
    Prefs { default_, always: jids(&p.always), never: jids(&p.never) }
}

pub(crate) async fn handle_prefs_get(ctx: Ctx, iq: Iq<MamPrefsQuery>) -> IqResult {
    let owner = iq.own()?.to_bare();
    Ok(Some(to_wire(&ctx.db.archive().prefs(owner.as_str()).await.map_err(storage_failure)?).into()))
}

pub(crate) async fn handle_prefs_set(ctx: Ctx, iq: Iq<Prefs>, cache: Arc<PrefsCache>) -> IqResult {
    let owner = iq.own()?.to_bare();
    let Prefs { default_, always, never } = iq.payload;
    let default_mode = match default_ {
        DefaultPrefs::Always => ArchiveDefault::Always,
        DefaultPrefs::Never => ArchiveDefault::Never,
        DefaultPrefs::Roster => ArchiveDefault::Roster,
    };
    let bare = |list: Vec<Jid>| list.into_iter().map(|j| j.to_bare().to_string()).collect();
    let prefs = ArchivePrefs { default_mode, always: bare(always), never: bare(never) };
    ctx.db.archive().set_prefs(owner.as_str(), &prefs).await.map_err(storage_failure)?;
    let answer = to_wire(&prefs).into();
    cache.insert(owner, Arc::new(prefs));
    Ok(Some(answer))
}
