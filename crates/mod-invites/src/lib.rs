//! Invitations and onboarding: XEP-0401 invite commands (`urn:xmpp:invite#invite` for any
//! account, `urn:xmpp:invite#create-account` for administrators), XEP-0077 in-band
//! registration gated by XEP-0445 tokens (or open, throttled, or closed), password change and
//! account removal for logged-in users. Invites live in storage (`db.invites()`), which makes
//! the tokens and uses them; what a new account gets from its invite (the inviter as a mutual
//! contact, rooms) is announced as [`Event::Invited`] to the modules that own rosters and rooms.

mod commands;
pub mod links;
mod pages;
mod recent;
mod registration;
mod rooms;
mod strings;

use recent::Recent;
use rhein_module::commands::Allowed;
use rhein_module::{Current, IqKind, Module, ModuleError, ModuleSpec, Reconfigure, Registry, Targets, settings};
use rhein_proto::{Element, ns};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "invites", build }];

/// Who may create an account in-band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Only with a valid invite token.
    Invite,
    /// Anyone, throttled per address; invite tokens still work.
    Open,
    /// Nobody, not even with a token (accounts come from the command line).
    Closed,
}

/// `[modules.invites]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvitesConfig {
    pub registration: Registration,
    /// Every account, not only administrators, may create account invites.
    pub users_may_invite: bool,
    /// How long a new invite can be used.
    pub valid_days: u32,
    /// Passwords shorter than this are refused at registration and change.
    pub min_password_length: usize,
    /// With open registration: one account per address in this many seconds.
    pub open_registration_interval_secs: u64,
    /// Where landing pages are served (`https://chat.example.org`); default: the server's
    /// https listener.
    pub landing_origin: Option<String>,
    /// Apps the landing pages recommend.
    pub clients: Vec<Client>,
    /// A web client new accounts are pointed to after registering on a landing page.
    pub webchat_url: Option<String>,
}

/// An app a landing page recommends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub name: String,
    pub url: String,
    /// Where it runs, as the page says it (`Android`, `iPhone and Mac`).
    pub platforms: String,
}

fn default_clients() -> Vec<Client> {
    [
        ("Conversations", "https://conversations.im/", "Android"),
        ("Monal", "https://monal-im.org/", "iPhone, iPad and Mac"),
        ("Gajim", "https://gajim.org/", "Windows and Linux"),
        ("Dino", "https://dino.im/", "Linux"),
        ("Converse.js", "https://conversejs.org/", "web browser"),
    ]
    .map(|(name, url, platforms)| Client { name: name.into(), url: url.into(), platforms: platforms.into() })
    .to_vec()
}

impl Default for InvitesConfig {
    fn default() -> Self {
        Self {
            registration: Registration::Invite,
            users_may_invite: false,
            valid_days: 7,
            min_password_length: 8,
            open_registration_interval_secs: 600,
            landing_origin: None,
            clients: default_clients(),
            webchat_url: None,
        }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(Invites::new(settings::parse("invites", table)?)))
}

/// Password derivations (argon2 and PBKDF2) at once: as many as the machine's two cores take.
const DERIVATIONS: usize = 2;

/// Unauthenticated streams kept track of at most (a token each).
const STREAMS: usize = 10_000;

/// The invites module.
pub struct Invites {
    config: Current<InvitesConfig>,
    /// The token each unauthenticated stream presented (XEP-0445), for its registration.
    tokens: Recent<u64, String>,
    /// When each address last registered without an invite (open registration).
    registered_from: Recent<IpAddr, ()>,
    /// Landing-page forms each address submitted lately.
    page_attempts: Recent<IpAddr, u32>,
    /// Password derivations under way at most (registrations and password changes).
    derivations: tokio::sync::Semaphore,
}

impl Invites {
    pub fn new(config: InvitesConfig) -> Self {
        let interval = Duration::from_secs(config.open_registration_interval_secs);
        Self {
            // Negotiation is bounded in time; a token outlives no stream by much.
            tokens: Recent::new(Duration::from_secs(600), STREAMS),
            registered_from: Recent::new(interval, STREAMS),
            page_attempts: Recent::new(Duration::from_secs(600), STREAMS),
            derivations: tokio::sync::Semaphore::new(DERIVATIONS),
            config: Current::new(config),
        }
    }

    /// How long a new invite can be used, in milliseconds.
    fn valid_for_ms(&self) -> i64 {
        i64::from(self.config.get().valid_days) * 24 * 3600 * 1000
    }
}

impl Module for Invites {
    fn name(&self) -> &'static str {
        "invites"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        if self.config.get().registration != Registration::Closed {
            reg.pre_auth_feature(Element::bare("register", ns::REGISTER_FEATURE));
            reg.pre_auth_feature(Element::bare("register", ns::IBR_TOKEN));
            let m = self.clone();
            reg.pre_auth(IqKind::Set, move |ctx, request| registration::preauth(m.clone(), ctx, request))?;
            let m = self.clone();
            reg.pre_auth(IqKind::Get, move |ctx, request| registration::fields(m.clone(), ctx, request))?;
            let m = self.clone();
            reg.pre_auth(IqKind::Set, move |ctx, request| registration::register(m.clone(), ctx, request))?;
        }
        reg.feature(ns::REGISTER);
        for targets in [Targets::Host, Targets::Account] {
            reg.get(targets, registration::registered)?;
            let m = self.clone();
            reg.set(targets, move |ctx, iq| registration::change(m.clone(), ctx, iq))?;
        }
        let m = self.clone();
        reg.web("/invite/", move |ctx, request| pages::serve(m.clone(), ctx, request));
        let m = self.clone();
        reg.web("/join/", move |ctx, request| rooms::serve(m.clone(), ctx, request));
        let m = self.clone();
        reg.command(ns::INVITE_COMMAND, "Invite someone", Allowed::Accounts, move |ctx, iq| {
            commands::invite(m.clone(), ctx, iq)
        })?;
        let allowed = if self.config.get().users_may_invite { Allowed::Accounts } else { Allowed::Admins };
        let m = self;
        reg.command(ns::CREATE_ACCOUNT_COMMAND, "Create an account invitation", allowed, move |ctx, iq| {
            commands::create_account(m.clone(), ctx, iq)
        })
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        // What registration and the commands offer is announced at start.
        let closed = |a: &InvitesConfig, b: &InvitesConfig| {
            (a.registration == Registration::Closed) != (b.registration == Registration::Closed)
        };
        let fixed: &[settings::Fixed<InvitesConfig>] = &[
            ("registration (closed or not)", closed),
            ("users_may_invite", |a, b| a.users_may_invite != b.users_may_invite),
            ("open_registration_interval_secs", |a, b| {
                a.open_registration_interval_secs != b.open_registration_interval_secs
            }),
        ];
        settings::reconfigure("invites", &self.config, table, fixed)
    }
}
