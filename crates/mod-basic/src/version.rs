//! XEP-0092: Software Version of the server.

use rhein_module::{Ctx, Iq, IqResult, ModuleError, Registry, Targets};
use rhein_proto::ns;
use rhein_proto::parsers::version::{VersionQuery, VersionResult};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::VERSION);
    reg.get(Targets::Host, handle_version)
}

async fn handle_version(ctx: Ctx, _iq: Iq<VersionQuery>) -> IqResult {
    let version = VersionResult { name: ctx.server.name.into(), version: ctx.server.version.into(), os: None };
    Ok(Some(version.into()))
}
