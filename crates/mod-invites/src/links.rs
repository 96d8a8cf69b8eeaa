//! What an invite is handed out as: its `xmpp:` URI (XEP-0379, XEP-0401, XEP-0445) and the
//! address of its landing page.

use rhein_storage::{Invite, InviteKind};

/// The `xmpp:` URI of an invite made with `token`: a contact or user invitation names its
/// creator (`?roster`, with `ibr=y` when it also lets the invitee register here); an account
/// invitation names the account it is for, or only the host (`?register`, XEP-0401 §3.5).
pub fn uri(invite: &Invite, token: &str) -> String {
    match (invite.kind, &invite.creator) {
        (InviteKind::Contact, Some(creator)) => format!("xmpp:{}?roster;preauth={token}", iri(creator)),
        (InviteKind::User, Some(creator)) => format!("xmpp:{}?roster;preauth={token};ibr=y", iri(creator)),
        (InviteKind::Room, _) => match invite.rooms.first() {
            Some(room) => format!("xmpp:{}?join;password={token}", iri(room)),
            None => format!("xmpp:{}?register;preauth={token}", iri(&invite.host)),
        },
        _ => match &invite.username {
            Some(user) => format!("xmpp:{}@{}?register;preauth={token}", iri(user), iri(&invite.host)),
            None => format!("xmpp:{}?register;preauth={token}", iri(&invite.host)),
        },
    }
}

/// The landing page of an invite under `origin` (`https://example.org:5281`).
pub fn landing(origin: &str, token: &str) -> String {
    format!("{}/invite/{token}", origin.trim_end_matches('/'))
}

/// A JID written into an `xmpp:` IRI (RFC 5122 §2.7.2): characters with a meaning in the IRI
/// are percent-encoded, everything else stays as it is.
fn iri(jid: &str) -> String {
    let mut out = String::with_capacity(jid.len());
    for c in jid.chars() {
        match c {
            '?' | ';' | '#' | '%' | '/' | '&' | '=' | ' ' | '"' | '<' | '>' | '\'' | '\\' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhein_storage::NewInvite;

    fn invite(new: NewInvite) -> Invite {
        Invite {
            id: "i".into(),
            host: new.host,
            creator: new.creator,
            kind: new.kind,
            created_at: 0,
            expires_at: 1,
            uses_left: 1,
            username: new.username,
            subscribe: new.subscribe,
            groups: new.groups,
            rooms: new.rooms,
            admin: new.admin,
            revoked: false,
            note: new.note,
        }
    }

    #[test]
    fn uris_follow_the_xeps() {
        let alice = Some("alice@example.org".to_owned());
        let contact = NewInvite { creator: alice.clone(), ..NewInvite::new("example.org", InviteKind::Contact) };
        assert_eq!(uri(&invite(contact), "T"), "xmpp:alice@example.org?roster;preauth=T");
        let with_ibr = NewInvite { creator: alice.clone(), ..NewInvite::new("example.org", InviteKind::User) };
        assert_eq!(uri(&invite(with_ibr), "T"), "xmpp:alice@example.org?roster;preauth=T;ibr=y");
        let named = NewInvite { username: Some("juliet".into()), ..NewInvite::new("example.org", InviteKind::Account) };
        assert_eq!(uri(&invite(named), "T"), "xmpp:juliet@example.org?register;preauth=T");
        let open = NewInvite::new("example.org", InviteKind::Account);
        assert_eq!(uri(&invite(open), "T"), "xmpp:example.org?register;preauth=T");
        let made_by_alice =
            NewInvite { creator: alice, subscribe: true, ..NewInvite::new("example.org", InviteKind::Account) };
        assert_eq!(uri(&invite(made_by_alice), "T"), "xmpp:example.org?register;preauth=T", "§3.5, whoever made it");
        let room = NewInvite {
            rooms: vec!["tea@conference.example.org".into()],
            ..NewInvite::new("example.org", InviteKind::Room)
        };
        assert_eq!(uri(&invite(room), "T"), "xmpp:tea@conference.example.org?join;password=T");
    }

    #[test]
    fn iri_escapes_what_has_a_meaning_there() {
        assert_eq!(iri("a?b;c#d%e@x"), "a%3Fb%3Bc%23d%25e@x");
        assert_eq!(iri("jürgen@x"), "jürgen@x");
        assert_eq!(landing("https://example.org:5281/", "T"), "https://example.org:5281/invite/T");
    }
}
