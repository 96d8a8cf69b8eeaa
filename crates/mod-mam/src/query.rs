//! XEP-0313 §4 queries: the search form, filters, XEP-0059 paging, results as forwarded
//! messages followed by `<fin/>`.

use crate::{MamConfig, NS, NS_DATA, NS_FORWARD};
use rhein_module::{Ctx, IqResult, own_request, storage_failure};
use rhein_proto::{Element, Jid, StanzaError, ns, rsm, time, xml};
use rhein_storage::{ArchiveQuery, Page};

const FIELDS: &[(&str, &str)] = &[
    ("with", "jid-single"),
    ("start", "text-single"),
    ("end", "text-single"),
    ("before-id", "text-single"),
    ("after-id", "text-single"),
    ("ids", "text-multi"),
];

/// The search form (XEP-0313 §7.1.1).
pub(crate) async fn handle_form(_ctx: Ctx, iq: Element) -> IqResult {
    own_request(&iq)?;
    Ok(Some(search_form()))
}

/// `<query/>` with the search form, for any archive (accounts and rooms).
pub fn search_form() -> Element {
    let mut form = xml::with_attr(Element::bare("x", NS_DATA), "type", "form");
    let mut form_type = xml::with_attr(Element::bare("field", NS_DATA), "var", "FORM_TYPE");
    xml::set_attr(&mut form_type, "type", "hidden");
    form_type.append_child(xml::text_el("value", NS_DATA, NS));
    form.append_child(form_type);
    for (var, kind) in FIELDS {
        let mut f = xml::with_attr(Element::bare("field", NS_DATA), "var", *var);
        xml::set_attr(&mut f, "type", *kind);
        form.append_child(f);
    }
    let mut q = Element::bare("query", NS);
    q.append_child(form);
    q
}

/// Values of a submitted form field.
fn field(form: Option<&Element>, var: &str) -> Vec<String> {
    form.into_iter()
        .flat_map(|f| f.children())
        .filter(|f| f.is("field", NS_DATA) && f.attr("var") == Some(var))
        .flat_map(|f| f.children().filter(|v| v.is("value", NS_DATA)).map(Element::text))
        .collect()
}

fn single(form: Option<&Element>, var: &str) -> Option<String> {
    field(form, var).into_iter().next().filter(|v| !v.is_empty())
}

/// A date field (`start`, `end`): absent, or exactly one XEP-0082 DateTime; an empty or
/// malformed one is refused rather than read as "no limit".
fn date_field(form: Option<&Element>, var: &str) -> Result<Option<i64>, StanzaError> {
    let bad = |what: String| StanzaError::bad_request().with_text(format!("{var}: {what}"));
    let mut fields = form.into_iter().flat_map(|f| f.children()).filter(|f| f.is("field", NS_DATA));
    let Some(field) = fields.find(|f| f.attr("var") == Some(var)) else { return Ok(None) };
    match rhein_proto::form::values(field).as_slice() {
        [value] => time::parse_datetime(value.trim()).map(Some).map_err(|e| bad(e.to_string())),
        _ => Err(bad("give exactly one date".into())),
    }
}

fn parse(query: &Element, config: &MamConfig) -> Result<ArchiveQuery, StanzaError> {
    let form = query.get_child("x", NS_DATA);
    let with = single(form, "with")
        .map(|w| Jid::new(&w).map(|j| j.to_bare().to_string()).map_err(|_| StanzaError::jid_malformed()))
        .transpose()?;
    let rsm = rsm::Request::parse(query)?.unwrap_or_default();
    let max = rsm.max.map_or(config.default_page, |m| m.clamp(0, config.max_page));
    let page = match (rsm.after, rsm.before) {
        (Some(a), _) if !a.is_empty() => Page::After(a),
        (_, Some(b)) if b.is_empty() => Page::Last,
        (_, Some(b)) => Page::Before(b),
        _ => Page::First,
    };
    Ok(ArchiveQuery {
        with,
        start: date_field(form, "start")?,
        end: date_field(form, "end")?,
        after_id: single(form, "after-id"),
        before_id: single(form, "before-id"),
        ids: field(form, "ids"),
        page,
        max,
    })
}

pub(crate) async fn handle_query(ctx: Ctx, iq: Element, config: MamConfig) -> IqResult {
    let requester = own_request(&iq)?;
    let owner = requester.to_bare();
    let query = iq.get_child("query", NS).ok_or_else(StanzaError::bad_request)?;
    let (results, fin) = run(&ctx, owner.as_str(), requester.as_str(), query, &config).await?;
    for msg in results {
        ctx.router.send_to(&requester, msg);
    }
    Ok(Some(fin))
}

/// Runs a query over the archive of `owner` (an account, or a room) for `requester`: the
/// result messages (from `owner` to `requester`) and the `<fin/>` that ends them.
pub async fn run(
    ctx: &Ctx,
    owner: &str,
    requester: &str,
    query: &Element,
    config: &MamConfig,
) -> Result<(Vec<Element>, Element), StanzaError> {
    let q = parse(query, config)?;
    let page = ctx
        .db
        .archive()
        .query(owner, &q)
        .await
        .map_err(storage_failure)?
        .ok_or_else(|| StanzaError::item_not_found().with_text("no such archive id"))?;
    let query_id = query.attr("queryid");
    let mut results = Vec::new();
    for row in &page.rows {
        let Ok(original) = row.stanza.parse::<Element>() else { continue };
        let mut delay = xml::with_attr(Element::bare("delay", ns::DELAY), "stamp", time::datetime(row.ts));
        xml::set_attr(&mut delay, "from", owner);
        let mut forwarded = Element::bare("forwarded", NS_FORWARD);
        forwarded.append_child(delay);
        forwarded.append_child(original);
        let mut result = xml::with_attr(Element::bare("result", NS), "id", row.stanza_id.as_str());
        if let Some(qid) = query_id {
            xml::set_attr(&mut result, "queryid", qid);
        }
        result.append_child(forwarded);
        let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "to", requester);
        xml::set_attr(&mut msg, "from", owner);
        msg.append_child(result);
        results.push(msg);
    }
    let bounds = page.rows.first().zip(page.rows.last());
    let set = rsm::result(bounds.map(|(f, l)| (f.stanza_id.as_str(), l.stanza_id.as_str())), page.count);
    let mut fin = Element::bare("fin", NS);
    if page.complete {
        xml::set_attr(&mut fin, "complete", "true");
    }
    fin.append_child(set);
    Ok((results, fin))
}
