//! XEP-0313 queries over any archive: an account's (mod-mam), a room's (mod-muc) or a
//! channel's (mod-mix). The search form, the filters (with, start, end, before-id, after-id,
//! ids), XEP-0059 paging both ways, and the results as forwarded messages ended by `<fin/>`.

use crate::{Ctx, storage_failure};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use rhein_proto::parsers::mam::{Fin, Query};
use rhein_proto::parsers::rsm::{First, SetResult};
use rhein_proto::{Element, Jid, StanzaError, ns, time, xml};
use rhein_storage::{ArchiveQuery, Page};

/// How many results one page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// The largest page a client may ask for.
    pub max: usize,
    /// The page size when the client names none.
    pub default: usize,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self { max: 250, default: 50 }
    }
}

/// The filters of the search form, with their field types (XEP-0313 §7.1.1).
const FIELDS: &[(&str, FieldType)] = &[
    ("with", FieldType::JidSingle),
    ("start", FieldType::TextSingle),
    ("end", FieldType::TextSingle),
    ("before-id", FieldType::TextSingle),
    ("after-id", FieldType::TextSingle),
    ("ids", FieldType::TextMulti),
];

/// The answer to a query get: `<query/>` with the search form.
pub fn search_form() -> Element {
    let fields = FIELDS.iter().map(|(var, kind)| Field::new(var, kind.clone())).collect();
    let form = DataForm::new(DataFormType::Form, ns::MAM, fields);
    Query { queryid: None, node: None, form: Some(form), set: None, flip_page: false }.into()
}

/// The values of a submitted field, none if it is absent.
fn values<'a>(form: Option<&'a DataForm>, var: &str) -> &'a [String] {
    form.and_then(|f| f.fields.iter().find(|f| f.var.as_deref() == Some(var))).map_or(&[], |f| &f.values)
}

fn single(form: Option<&DataForm>, var: &str) -> Option<String> {
    values(form, var).first().filter(|v| !v.is_empty()).cloned()
}

/// A date filter (`start`, `end`): absent, or exactly one XEP-0082 DateTime; an empty or
/// malformed one is refused rather than read as "no limit".
fn date(form: Option<&DataForm>, var: &str) -> Result<Option<i64>, StanzaError> {
    let bad = |what: String| StanzaError::bad_request().with_text(format!("{var}: {what}"));
    let present = form.is_some_and(|f| f.fields.iter().any(|f| f.var.as_deref() == Some(var)));
    match values(form, var) {
        [] if !present => Ok(None),
        [value] => time::parse_datetime(value.trim()).map(Some).map_err(|e| bad(e.to_string())),
        _ => Err(bad("give exactly one date".into())),
    }
}

/// What the storage is asked for.
fn filters(query: &Query, limits: PageLimits) -> Result<ArchiveQuery, StanzaError> {
    let form = query.form.as_ref();
    let with = single(form, "with")
        .map(|w| Jid::new(&w).map(|j| j.to_bare().to_string()).map_err(|_| StanzaError::jid_malformed()))
        .transpose()?;
    let set = query.set.as_ref();
    let max = set.and_then(|s| s.max).map_or(limits.default, |m| m.min(limits.max));
    let page = match (set.and_then(|s| s.after.clone()), set.and_then(|s| s.before.clone())) {
        (Some(a), _) if !a.is_empty() => Page::After(a),
        (_, Some(b)) if b.is_empty() => Page::Last,
        (_, Some(b)) => Page::Before(b),
        _ => Page::First,
    };
    Ok(ArchiveQuery {
        with,
        start: date(form, "start")?,
        end: date(form, "end")?,
        after_id: single(form, "after-id"),
        before_id: single(form, "before-id"),
        ids: values(form, "ids").to_vec(),
        page,
        max: max as i64,
    })
}

/// Runs a query over the archive of `owner` (an account, a room or a channel) for
/// `requester`: the result messages (from `owner` to `requester`) and the `<fin/>` that ends
/// them.
pub async fn query(
    ctx: &Ctx,
    owner: &str,
    requester: &str,
    query: &Query,
    limits: PageLimits,
) -> Result<(Vec<Element>, Element), StanzaError> {
    let q = filters(query, limits)?;
    let page = ctx
        .db
        .archive()
        .query(owner, &q)
        .await
        .map_err(storage_failure)?
        .ok_or_else(|| StanzaError::item_not_found().with_text("no such archive id"))?;
    let query_id = query.queryid.as_ref().map(|q| q.0.as_str());
    let results = page.rows.iter().filter_map(|row| {
        // The archived stanza goes out as it was stored, foreign payloads and all.
        let original = row.stanza.parse::<Element>().ok()?;
        let mut delay = xml::with_attr(Element::bare("delay", ns::DELAY), "stamp", time::datetime(row.ts));
        xml::set_attr(&mut delay, "from", owner);
        let mut forwarded = Element::bare("forwarded", ns::FORWARD);
        forwarded.append_child(delay);
        forwarded.append_child(original);
        let mut result = xml::with_attr(Element::bare("result", ns::MAM), "id", row.stanza_id.as_str());
        if let Some(qid) = query_id {
            xml::set_attr(&mut result, "queryid", qid);
        }
        result.append_child(forwarded);
        let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "to", requester);
        xml::set_attr(&mut msg, "from", owner);
        msg.append_child(result);
        Some(msg)
    });
    let results = results.collect();
    let set = SetResult {
        first: page.rows.first().map(|r| First { index: None, item: r.stanza_id.clone() }),
        last: page.rows.last().map(|r| r.stanza_id.clone()),
        count: Some(page.count.max(0) as usize),
    };
    Ok((results, Fin { complete: page.complete, set }.into()))
}
