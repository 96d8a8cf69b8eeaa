//! Transcript tests: an XMPP conversation written down as what each client sends and what it
//! must receive next, replayed over real sockets against a real server.
//!
//! A transcript (`tests/it/transcripts/NAME.xmpp`) is read line by line, top to bottom:
//!
//! ```text
//! # A comment: the prose of the specification.
//! account carol                          an account that exists (password `pw`)
//! client alice = alice@{host}/laptop     logs in (STARTTLS, SCRAM, bind); the account is created
//! client phone = alice@{host}/phone      a second client of the same account
//! alice> <presence/>                     alice sends this
//! alice< <presence from='{alice/full}' to='{alice/full}'/>
//!                                        the next stanza alice receives must be this one
//!   <status>indented lines continue the stanza above</status>
//! alice< nothing                         nothing else is on its way to alice: a marker from every
//!                                        client reaches her with nothing before it
//! alice< nothing from bob                the same, for what bob (or the clients listed) sent
//! disconnect alice                       drops alice's connection
//! ```
//!
//! Stanzas without `xmlns` are `jabber:client`, as on the stream. A received stanza matches
//! the expected one when the name, the namespace and the attributes (as a set: order does not
//! matter, a missing or an extra attribute does) are the same, the child elements are the same
//! in the same order, and the text is the same once trimmed. In both directions `{host}` is the
//! domain, `{alice}` the bare JID of client `alice` and `{alice/full}` its bound JID. In what is
//! expected, a value (attribute or text) `{any}` matches anything, and `{$name}` captures the
//! value the first time and must be that same value afterwards (a sent stanza may use it too).
//!
//! When the transcript ends, every client still connected must have received nothing more
//! than the transcript says.

use rhein_testkit::{Element, TestClient, TestServer};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long one expected stanza may take (below the client's own patience, so that the
/// failure names the line).
const WAIT: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Account(String),
    Client {
        name: String,
        user: String,
        resource: Option<String>,
    },
    Send {
        client: String,
        xml: String,
    },
    Expect {
        client: String,
        xml: String,
    },
    /// Nothing more for `client` of what `from` (every client when empty) sent so far.
    Nothing {
        client: String,
        from: Vec<String>,
    },
    Disconnect {
        client: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    line: usize,
    action: Action,
}

/// Reads a transcript into its steps; `Err` names the line that does not read.
fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            match steps.last_mut().map(|s| &mut s.action) {
                Some(Action::Send { xml, .. } | Action::Expect { xml, .. }) => xml.push_str(raw.trim()),
                _ => return Err(format!("line {line}: an indented line continues a stanza, and there is none")),
            }
            continue;
        }
        let words: Vec<&str> = raw.split_whitespace().collect();
        let action = match words.as_slice() {
            ["account", user] => Action::Account((*user).to_owned()),
            ["client", name, "=", address] => {
                let (user, rest) = address
                    .split_once("@{host}")
                    .ok_or_else(|| format!("line {line}: a client is `client NAME = USER@{{host}}[/RESOURCE]`"))?;
                let resource = match rest {
                    "" => None,
                    r => Some(r.strip_prefix('/').ok_or_else(|| format!("line {line}: bad address {address}"))?),
                };
                Action::Client {
                    name: (*name).to_owned(),
                    user: user.to_owned(),
                    resource: resource.map(str::to_owned),
                }
            }
            ["disconnect", client] => Action::Disconnect { client: (*client).to_owned() },
            _ => {
                let (client, rest) = raw
                    .split_once(['>', '<'])
                    .filter(|(c, _)| !c.is_empty() && c.chars().all(|ch| ch.is_alphanumeric() || ch == '_'))
                    .ok_or_else(|| format!("line {line}: not a transcript line: {raw}"))?;
                let client = client.to_owned();
                let xml = rest.trim().to_owned();
                match raw.as_bytes()[client.len()] {
                    b'>' => Action::Send { client, xml },
                    _ if xml == "nothing" => Action::Nothing { client, from: Vec::new() },
                    _ if xml.starts_with("nothing from ") => {
                        let from = xml["nothing from ".len()..].split_whitespace().map(str::to_owned).collect();
                        Action::Nothing { client, from }
                    }
                    _ => Action::Expect { client, xml },
                }
            }
        };
        steps.push(Step { line, action });
    }
    Ok(steps)
}

/// Parses a stanza as it is written in a transcript: `jabber:client` unless it says otherwise.
fn stanza(xml: &str) -> Result<Element, String> {
    let wrapped = format!("<transcript xmlns='jabber:client'>{xml}</transcript>");
    let root: Element = wrapped.parse().map_err(|e| format!("not XML ({e}): {xml}"))?;
    let mut children = root.children();
    match (children.next(), children.next()) {
        (Some(el), None) => Ok(el.clone()),
        _ => Err(format!("not exactly one element: {xml}")),
    }
}

/// An element as XML text, for failure messages.
fn show(el: &Element) -> String {
    rhein_proto::xml::to_string(el)
}

/// Attributes by name (`xml:lang` for the XML namespace, `{ns}name` for others).
fn attributes(el: &Element) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for ((ns, name), value) in el.attrs().iter() {
        let key = match ns.as_str() {
            "" => name.to_string(),
            "http://www.w3.org/XML/1998/namespace" => format!("xml:{name}"),
            other => format!("{{{other}}}{name}"),
        };
        out.insert(key, value.clone());
    }
    out
}

/// Whether `actual` is what the pattern `expected` allows (`{any}`, `{$name}`).
fn value_matches(expected: &str, actual: &str, captures: &mut HashMap<String, String>) -> bool {
    if expected == "{any}" {
        return true;
    }
    if let Some(var) = expected.strip_prefix("{$").and_then(|v| v.strip_suffix('}')) {
        return match captures.get(var) {
            Some(known) => known == actual,
            None => {
                captures.insert(var.to_owned(), actual.to_owned());
                true
            }
        };
    }
    expected == actual
}

/// Compares a received element with the expected one; `Err` says where and how they differ.
pub fn compare(expected: &Element, actual: &Element, captures: &mut HashMap<String, String>) -> Result<(), String> {
    compare_at(expected, actual, captures, &format!("/{}", expected.name()))
}

fn compare_at(
    expected: &Element,
    actual: &Element,
    captures: &mut HashMap<String, String>,
    path: &str,
) -> Result<(), String> {
    if (expected.name(), expected.ns()) != (actual.name(), actual.ns()) {
        return Err(format!(
            "{path}: expected <{} xmlns='{}'>, got <{} xmlns='{}'>",
            expected.name(),
            expected.ns(),
            actual.name(),
            actual.ns()
        ));
    }
    let (want, got) = (attributes(expected), attributes(actual));
    for (name, value) in &want {
        match got.get(name) {
            None => return Err(format!("{path}: attribute {name}='{value}' expected, missing")),
            Some(v) if !value_matches(value, v, captures) => {
                return Err(format!("{path}: attribute {name}: expected '{value}', got '{v}'"));
            }
            Some(_) => {}
        }
    }
    if let Some((name, value)) = got.iter().find(|(name, _)| !want.contains_key(*name)) {
        return Err(format!("{path}: unexpected attribute {name}='{value}'"));
    }
    let (want, got) = (expected.text(), actual.text());
    if !value_matches(want.trim(), got.trim(), captures) {
        return Err(format!("{path}: text: expected '{}', got '{}'", want.trim(), got.trim()));
    }
    let want: Vec<&Element> = expected.children().collect();
    let got: Vec<&Element> = actual.children().collect();
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        compare_at(w, g, captures, &format!("{path}/{}[{i}]", w.name()))?;
    }
    if want.len() != got.len() {
        let extra = match got.get(want.len()) {
            Some(g) => format!("; first unexpected: {}", show(g)),
            None => format!("; first missing: {}", show(want[got.len()])),
        };
        return Err(format!("{path}: expected {} child elements, got {}{extra}", want.len(), got.len()));
    }
    Ok(())
}

/// Replaces `{host}`, `{client}` and `{client/full}`; in a stanza to send, also captured
/// `{$name}`s. Any other `{...}` is left for the comparison (or refused, in a stanza to send).
fn substitute(
    text: &str,
    host: &str,
    jids: &HashMap<String, String>,
    captures: Option<&HashMap<String, String>>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| format!("unclosed {{ in {text}"))? + start;
        let key = &rest[start + 1..end];
        let bare = |name: &str| jids.get(name).map(|full| full.split('/').next().unwrap_or(full).to_owned());
        let value = match key {
            "host" => Some(host.to_owned()),
            k if k.ends_with("/full") => jids.get(&k[..k.len() - 5]).cloned(),
            k if k.starts_with('$') => match captures {
                Some(c) => Some(rhein_proto::xml::escape(
                    c.get(&k[1..]).ok_or_else(|| format!("{{{k}}} is used before it was captured"))?,
                )),
                None => None,
            },
            "any" => match captures {
                Some(_) => return Err("{any} is for what is expected, not for what is sent".into()),
                None => None,
            },
            k => Some(bare(k).ok_or_else(|| format!("{{{k}}}: no such client"))?),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..=end]),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the transcripts are.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/it/transcripts");

/// Plays `transcripts/NAME.xmpp`.
pub async fn play(name: &str) {
    let path = format!("{DIR}/{name}.xmpp");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    run(name, &text).await;
}

/// Runs transcript `name` (its text): starts a server with every account it names, then
/// plays it. Panics with the file, the line and the difference when the server does not
/// answer as written.
pub async fn run(name: &str, text: &str) {
    let steps = parse(text).unwrap_or_else(|e| panic!("{name}.xmpp: {e}"));
    let mut accounts: Vec<&str> = Vec::new();
    for step in &steps {
        if let Action::Account(user) | Action::Client { user, .. } = &step.action
            && !accounts.contains(&user.as_str())
        {
            accounts.push(user);
        }
    }
    let server = accounts.iter().fold(TestServer::builder(), |b, u| b.user(u, "pw")).start().await;
    let host = server.domain.clone();
    let mut clients: Vec<(String, TestClient)> = Vec::new();
    let mut jids: HashMap<String, String> = HashMap::new();
    let mut captures: HashMap<String, String> = HashMap::new();

    for Step { line, action } in steps {
        let at = format!("{name}.xmpp:{line}");
        let fail = |e: String| -> ! { panic!("{at}: {e}") };
        let index = |clients: &[(String, TestClient)], c: &str| {
            clients.iter().position(|(n, _)| n == c).unwrap_or_else(|| panic!("{at}: no client {c} connected"))
        };
        match action {
            Action::Account(_) => {}
            Action::Client { name: client, user, resource } => {
                let builder = server.connect();
                let builder = match &resource {
                    Some(r) => builder.resource(r),
                    None => builder,
                };
                let c = builder.login(&user, "pw").await;
                jids.insert(client.clone(), c.jid.clone().expect("bound"));
                clients.push((client, c));
            }
            Action::Send { client, xml } => {
                let xml = substitute(&xml, &host, &jids, Some(&captures)).unwrap_or_else(|e| fail(e));
                stanza(&xml).unwrap_or_else(|e| fail(e));
                let i = index(&clients, &client);
                clients[i].1.send(&xml).await;
            }
            Action::Expect { client, xml } => {
                let xml = substitute(&xml, &host, &jids, None).unwrap_or_else(|e| fail(e));
                let expected = stanza(&xml).unwrap_or_else(|e| fail(e));
                let i = index(&clients, &client);
                let Ok(actual) = tokio::time::timeout(WAIT, clients[i].1.next()).await else {
                    fail(format!("{client} expected\n  {}\nbut got nothing", show(&expected)));
                };
                if let Err(e) = compare(&expected, &actual, &mut captures) {
                    fail(format!("{client} expected\n  {}\nbut got\n  {}\n{e}", show(&expected), show(&actual)));
                }
            }
            Action::Nothing { client, from } => {
                let i = index(&clients, &client);
                for f in &from {
                    index(&clients, f);
                }
                if let Err(e) = quiet(&mut clients, i, &from).await {
                    fail(e);
                }
            }
            Action::Disconnect { client } => {
                let i = index(&clients, &client);
                clients.remove(i).1.kill();
            }
        }
    }
    for i in 0..clients.len() {
        if let Err(e) = quiet(&mut clients, i, &[]).await {
            panic!("{name}.xmpp, at the end: {e}");
        }
    }
}

/// Every client of `from` (all when empty) sends client `target` a marker; `target` must
/// receive the markers and nothing else: nothing those clients caused before is on its way.
async fn quiet(clients: &mut [(String, TestClient)], target: usize, from: &[String]) -> Result<(), String> {
    let to = clients[target].1.jid.clone().expect("bound");
    let mut markers = Vec::new();
    for (name, c) in clients.iter_mut() {
        if from.is_empty() || from.contains(name) {
            markers.push(c.barrier_to(&to).await);
        }
    }
    let (name, c) = &mut clients[target];
    while !markers.is_empty() {
        let Ok(el) = tokio::time::timeout(WAIT, c.next()).await else {
            return Err(format!("{name}: markers {markers:?} never arrived"));
        };
        match markers.iter().position(|m| el.name() == "iq" && el.attr("id") == Some(m.as_str())) {
            Some(pos) => {
                markers.remove(pos);
            }
            None => return Err(format!("{name} received more than the transcript says:\n  {}", show(&el))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expected: &str, actual: &str) -> Result<(), String> {
        compare(&stanza(expected).unwrap(), &stanza(actual).unwrap(), &mut HashMap::new())
    }

    #[test]
    fn attribute_order_does_not_matter() {
        let ok = check(
            "<iq type='result' id='r1' to='a@x/y'><query xmlns='jabber:iq:roster' ver='1'/></iq>",
            "<iq to='a@x/y' id='r1' type='result'><query ver='1' xmlns='jabber:iq:roster'/></iq>",
        );
        assert_eq!(ok, Ok(()));
        // Whitespace between elements and around text is layout.
        assert_eq!(check("<message>\n  <body> hi </body>\n</message>", "<message><body>hi</body></message>"), Ok(()));
    }

    #[test]
    fn a_different_attribute_child_or_text_fails_and_says_what_differs() {
        let e = check("<iq type='result' id='r1'/>", "<iq type='error' id='r1'/>").unwrap_err();
        assert!(e.contains("/iq: attribute type: expected 'result', got 'error'"), "{e}");
        let e = check("<iq type='result' id='r1'/>", "<iq type='result'/>").unwrap_err();
        assert!(e.contains("attribute id='r1' expected, missing"), "{e}");
        let e = check("<iq type='result'/>", "<iq type='result' id='r1'/>").unwrap_err();
        assert!(e.contains("unexpected attribute id='r1'"), "{e}");
        let e = check("<message><body>hi</body></message>", "<message><body>ho</body></message>").unwrap_err();
        assert!(e.contains("/message/body[0]: text: expected 'hi', got 'ho'"), "{e}");
        let e = check("<message><body>hi</body></message>", "<message><subject>hi</subject></message>").unwrap_err();
        assert!(e.contains("expected <body xmlns='jabber:client'>, got <subject xmlns='jabber:client'>"), "{e}");
        let e = check("<message><body>hi</body></message>", "<message><body>hi</body><thread>t</thread></message>")
            .unwrap_err();
        assert!(e.contains("expected 1 child elements, got 2; first unexpected: <thread"), "{e}");
        let e = check("<message><body>hi</body><thread>t</thread></message>", "<message><body>hi</body></message>")
            .unwrap_err();
        assert!(e.contains("first missing: <thread"), "{e}");
        let e = check("<iq><ping xmlns='urn:xmpp:ping'/></iq>", "<iq><ping xmlns='urn:xmpp:pong'/></iq>").unwrap_err();
        assert!(e.contains("'urn:xmpp:ping'") && e.contains("'urn:xmpp:pong'"), "{e}");
        // Children keep their order.
        let e = check("<x xmlns='u'><a/><b/></x>", "<x xmlns='u'><b/><a/></x>").unwrap_err();
        assert!(e.contains("/x/a[0]: expected <a xmlns='u'>, got <b xmlns='u'>"), "{e}");
    }

    #[test]
    fn placeholders_match_anything_or_the_same_value_again() {
        let mut captures = HashMap::new();
        let pattern = stanza("<iq id='{$id}' type='{any}'><x xmlns='u'>{$id}</x></iq>").unwrap();
        let same = stanza("<iq id='42' type='result'><x xmlns='u'>42</x></iq>").unwrap();
        assert_eq!(compare(&pattern, &same, &mut captures), Ok(()));
        assert_eq!(captures.get("id").map(String::as_str), Some("42"));
        let other = stanza("<iq id='42' type='error'><x xmlns='u'>43</x></iq>").unwrap();
        let e = compare(&pattern, &other, &mut captures).unwrap_err();
        assert!(e.contains("/iq/x[0]: text: expected '{$id}', got '43'"), "{e}");
        // `{any}` still needs the attribute to be there.
        let e = check("<iq type='{any}'/>", "<iq/>").unwrap_err();
        assert!(e.contains("attribute type='{any}' expected, missing"), "{e}");
    }

    #[test]
    fn transcripts_read_line_by_line() {
        let text = "# comment\naccount carol\nclient alice = alice@{host}/a\nclient b = bob@{host}\n\
                    alice> <message to='{b}'>\n  <body>hi</body>\n  </message>\nb< nothing\nb< nothing from alice b\n\
                    disconnect b\n";
        let steps: Vec<Action> = parse(text).unwrap().into_iter().map(|s| s.action).collect();
        assert_eq!(
            steps,
            [
                Action::Account("carol".into()),
                Action::Client { name: "alice".into(), user: "alice".into(), resource: Some("a".into()) },
                Action::Client { name: "b".into(), user: "bob".into(), resource: None },
                Action::Send { client: "alice".into(), xml: "<message to='{b}'><body>hi</body></message>".into() },
                Action::Nothing { client: "b".into(), from: vec![] },
                Action::Nothing { client: "b".into(), from: vec!["alice".into(), "b".into()] },
                Action::Disconnect { client: "b".into() },
            ]
        );
        assert!(parse("hello world").unwrap_err().contains("line 1"));
        assert!(parse("  <body/>").unwrap_err().contains("continues"));
        let jids = HashMap::from([("alice".to_owned(), "alice@localhost/a".to_owned())]);
        assert_eq!(
            substitute("{alice} {alice/full} {host} {any}", "localhost", &jids, None).unwrap(),
            "alice@localhost alice@localhost/a localhost {any}"
        );
        assert!(substitute("{bob}", "localhost", &jids, None).unwrap_err().contains("no such client"));
        assert!(substitute("{$v}", "localhost", &jids, Some(&HashMap::new())).unwrap_err().contains("before"));
    }
}
