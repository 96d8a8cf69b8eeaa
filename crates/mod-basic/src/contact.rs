//! XEP-0157: Contact Addresses for XMPP Services — who to write to about abuse, security and
//! so on, in the server's disco#info.

use rhein_module::{Module, ModuleError, Registry};
use rhein_proto::{Element, ns, xml};
use serde::Deserialize;
use std::sync::Arc;

/// `[modules.contact]`: lists of URIs (`mailto:`, `xmpp:`, `https:`) per kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Contact {
    abuse: Vec<String>,
    admin: Vec<String>,
    feedback: Vec<String>,
    sales: Vec<String>,
    security: Vec<String>,
    status: Vec<String>,
    support: Vec<String>,
}

pub(crate) fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    let c = rhein_module::settings::parse::<Contact>("contact", table)?;
    Ok(Arc::new(c))
}

impl Module for Contact {
    fn name(&self) -> &'static str {
        "contact"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let mut form = xml::with_attr(Element::bare("x", ns::DATA), "type", "result");
        let mut ft = xml::with_attr(Element::bare("field", ns::DATA), "var", "FORM_TYPE");
        xml::set_attr(&mut ft, "type", "hidden");
        ft.append_child(xml::text_el("value", ns::DATA, "http://jabber.org/network/serverinfo"));
        form.append_child(ft);
        for (kind, list) in [
            ("abuse", &self.abuse),
            ("admin", &self.admin),
            ("feedback", &self.feedback),
            ("sales", &self.sales),
            ("security", &self.security),
            ("status", &self.status),
            ("support", &self.support),
        ] {
            if list.is_empty() {
                continue;
            }
            let mut f = xml::with_attr(Element::bare("field", ns::DATA), "var", format!("{kind}-addresses"));
            for uri in list {
                f.append_child(xml::text_el("value", ns::DATA, uri.as_str()));
            }
            form.append_child(f);
        }
        reg.disco_form(form);
        Ok(())
    }
}
