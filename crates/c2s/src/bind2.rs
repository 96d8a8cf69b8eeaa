//! XEP-0386 Bind2: a resource bound inside SASL2's `<authenticate/>`, with features enabled in
//! the same round trip. Stream management and CSI belong to the stream and are enabled here;
//! the rest belongs to modules, which register what clients may enable (carbons) and what every
//! Bind2 client gets (MAM's catch-up). All of them are offered and applied through [`Inline`].

use crate::C2sShared;
use crate::negotiate::{Binding, bind_resource, new_id};
use crate::sm::Sm;
use rhein_module::{Bind2Feature, Ctx};
use rhein_proto::sasl::Bind;
use rhein_proto::{Element, ns, xml};

/// A feature Bind2 enables when the request has an element in its namespace.
enum Inline<'a> {
    /// A module's, enabled by its handler.
    Module(&'a Bind2Feature),
    /// XEP-0352: the session starts inactive.
    Csi,
    /// XEP-0198: stream management from the first stanza.
    Sm,
}

impl Inline<'_> {
    /// The namespace it is offered as and asked for in.
    fn var(&self) -> &'static str {
        match self {
            Self::Module(feature) => feature.var,
            Self::Csi => ns::CSI,
            Self::Sm => ns::SM,
        }
    }
}

/// Every inline feature, in the order they are offered and applied: the modules' that are on,
/// then the stream's own.
fn inline_features(shared: &C2sShared) -> impl Iterator<Item = Inline<'_>> {
    shared.router.bind2_features().iter().map(Inline::Module).chain([Inline::Csi, Inline::Sm])
}

/// SASL2's inline `<bind/>`, listing what can be enabled with it (XEP-0386 §2.1).
pub(crate) fn feature(shared: &C2sShared) -> Element {
    let mut inline = Element::bare("inline", ns::BIND2);
    for f in inline_features(shared) {
        inline.append_child(xml::with_attr(Element::bare("feature", ns::BIND2), "var", f.var()));
    }
    let mut bind = Element::bare("bind", ns::BIND2);
    bind.append_child(inline);
    bind
}

/// Binds a resource for a Bind2 `request`, then runs what modules do for every Bind2 client and
/// each inline feature the request names. The binding, carrying what the stream enabled, and
/// `<bound/>` with the results; `None` if no resource could be bound.
pub(crate) async fn bind(
    shared: &C2sShared,
    host: &str,
    localpart: &str,
    request: &Bind,
) -> Option<(Binding, Element)> {
    let mut binding = bind_resource(shared, host, localpart, &resource_for(request)).await.ok()?;
    let ctx = shared.router.ctx(binding.jid.domain().as_str());
    let mut bound = Element::bare("bound", ns::BIND2);
    for hook in shared.router.bind2_hooks() {
        if let Some(result) = hook(ctx.clone(), binding.jid.clone()).await {
            bound.append_child(result);
        }
    }
    for feature in inline_features(shared) {
        let asked: Vec<&Element> = request.inline.iter().filter(|c| c.ns() == feature.var()).collect();
        enable(shared, &ctx, &mut binding, &mut bound, feature, &asked).await;
    }
    Some((binding, bound))
}

/// Enables one inline feature for what the request asked of it (nothing if it asked nothing).
async fn enable(
    shared: &C2sShared,
    ctx: &Ctx,
    binding: &mut Binding,
    bound: &mut Element,
    feature: Inline<'_>,
    asked: &[&Element],
) {
    match feature {
        Inline::Module(feature) => {
            for el in asked {
                if let Some(result) = (feature.handler)(ctx.clone(), binding.jid.clone(), (*el).clone()).await {
                    bound.append_child(result);
                }
            }
        }
        Inline::Csi => binding.inactive = asked.iter().any(|el| el.name() == "inactive"),
        Inline::Sm => {
            if let Some(el) = asked.iter().find(|el| el.name() == "enable") {
                let (state, enabled, resume_rx) = Sm::enable(el, binding.jid.to_bare(), shared);
                bound.append_child(enabled);
                binding.sm = Some(state);
                binding.resume_rx = resume_rx;
            }
        }
    }
}

/// XEP-0386 §2.2: the server picks the resource, after the client's (first) `<tag/>` if it
/// sent one.
fn resource_for(request: &Bind) -> String {
    let tag = request.tags.first().filter(|t| !t.trim().is_empty());
    match tag {
        Some(tag) => format!("{}/{}", tag.trim(), new_id()),
        None => new_id(),
    }
}
