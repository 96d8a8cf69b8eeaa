//! XEP-0092: Software Version of the server.

use rhein_module::{Ctx, IqKind, IqResult, ModuleError, Registry, Targets};
use rhein_proto::{Element, ns, xml};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::VERSION);
    reg.iq(IqKind::Get, Targets::Host, ns::VERSION, "query", handle_version)
}

async fn handle_version(ctx: Ctx, _iq: Element) -> IqResult {
    let mut q = Element::bare("query", ns::VERSION);
    q.append_child(xml::text_el("name", ns::VERSION, ctx.server.name));
    q.append_child(xml::text_el("version", ns::VERSION, ctx.server.version));
    Ok(Some(q))
}
