//! XEP-0313 §4 queries of an account's own archive (the query itself is shared with rooms
//! and channels: [`rhein_module::archive`]).

use rhein_module::archive::{self, PageLimits};
use rhein_module::{Ctx, Iq, IqResult};
use rhein_proto::parsers::mam::Query;

/// The search form (XEP-0313 §7.1.1).
pub(crate) async fn handle_form(_ctx: Ctx, iq: Iq<Query>) -> IqResult {
    iq.own()?;
    Ok(Some(archive::search_form()))
}

/// Results go to the requesting client ahead of the IQ result that carries `<fin/>`.
pub(crate) async fn handle_query(ctx: Ctx, iq: Iq<Query>, limits: PageLimits) -> IqResult {
    let requester = iq.own()?;
    let owner = requester.to_bare();
    let (results, fin) = archive::query(&ctx, owner.as_str(), requester.as_str(), &iq.payload, limits).await?;
    for msg in results {
        ctx.router.send_to(&requester, msg);
    }
    Ok(Some(fin))
}
