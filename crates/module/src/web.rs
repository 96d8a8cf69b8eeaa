//! Web pages a module serves on the server's http and https listeners, under a path of its
//! own (`/invite/`): the request as the module needs it, without the HTTP library, and the
//! response it makes. `rhein-web` reads the request (a bounded body), finds the module by
//! path and writes the response with the headers every response carries.

use crate::Ctx;
use crate::registry::BoxFuture;
use std::net::IpAddr;
use std::sync::Arc;

/// A request for a module's page.
#[derive(Debug, Clone)]
pub struct WebRequest {
    pub method: WebMethod,
    /// The whole path (`/invite/TOKEN`), percent-encoding kept.
    pub path: String,
    pub query: Option<String>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: IpAddr,
    /// Whether it came over https.
    pub secure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebMethod {
    Get,
    Head,
    Post,
    Other,
}

impl WebRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The value of a cookie the browser sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The fields of an `application/x-www-form-urlencoded` body, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        let body = String::from_utf8_lossy(&self.body);
        body.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect()
    }

    /// The languages the browser prefers (`Accept-Language`), best first, without weights.
    pub fn languages(&self) -> Vec<String> {
        let mut ranked: Vec<(f32, String)> = self
            .header("accept-language")
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim().to_ascii_lowercase();
                let q = pieces.find_map(|p| p.trim().strip_prefix("q=")?.parse().ok()).unwrap_or(1.0);
                (!tag.is_empty()).then_some((q, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.into_iter().map(|(_, tag)| tag).collect()
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte; bytes that
/// are not UTF-8 become U+FFFD.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// A module's answer.
#[derive(Debug, Clone)]
pub struct WebResponse {
    pub status: u16,
    pub content_type: &'static str,
    /// Extra headers (`set-cookie`, `location`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl WebResponse {
    /// An HTML page.
    pub fn html(status: u16, body: String) -> Self {
        Self { status, content_type: "text/html; charset=utf-8", headers: Vec::new(), body: body.into_bytes() }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Serves every request whose path starts with the prefix it was registered under.
pub type WebHandler = Arc<dyn Fn(Ctx, WebRequest) -> BoxFuture<'static, WebResponse> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], body: &str) -> WebRequest {
        WebRequest {
            method: WebMethod::Post,
            path: "/x".into(),
            query: None,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
            peer: IpAddr::from([127, 0, 0, 1]),
            secure: true,
        }
    }

    #[test]
    fn forms_cookies_and_languages_read() {
        let r = request(
            &[("cookie", "a=1; csrf=xyz"), ("accept-language", "de;q=0.5, fr-CH, en;q=0.8")],
            "username=j%C3%BCrgen&password=a+b%2Bc&empty=&bad=%zz%4",
        );
        assert_eq!(
            r.form(),
            [
                ("username".to_owned(), "jürgen".to_owned()),
                ("password".to_owned(), "a b+c".to_owned()),
                ("empty".to_owned(), String::new()),
                ("bad".to_owned(), "%zz%4".to_owned()),
            ]
        );
        assert_eq!(r.cookie("csrf"), Some("xyz"));
        assert_eq!(r.cookie("b"), None);
        assert_eq!(r.languages(), ["fr-ch", "en", "de"]);
    }
}
