//! The four daemons of a deployment as the operator meets them: binary,
//! config file, systemd unit and system user. Setup, status and the
//! packaging (packaging/debian/*, systemd/*.service) use the same names.

/// One daemon of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Daemon {
    /// Name in messages, and the binary's name.
    pub name: &'static str,
    /// Its config file in the config folder.
    pub config: &'static str,
    /// Its systemd unit, for the hints `meetctl status` gives.
    pub unit: &'static str,
    /// The system user (and group) it runs as; its secrets are readable
    /// by this group.
    pub user: &'static str,
}

pub const XMPP_SERVER: Daemon = Daemon {
    name: "xmpp-server",
    config: "xmpp-server.toml",
    unit: "meet-rs-xmpp-server",
    user: "meet-xmpp",
};

pub const FOCUS: Daemon = Daemon {
    name: "focus",
    config: "focus.toml",
    unit: "meet-rs-focus",
    user: "meet-focus",
};

pub const VIDEOBRIDGE: Daemon = Daemon {
    name: "videobridge",
    config: "videobridge.toml",
    unit: "meet-rs-videobridge",
    user: "meet-jvb",
};

pub const WEB: Daemon = Daemon {
    name: "meet-web",
    config: "web.toml",
    unit: "meet-rs-web",
    user: "meet-web",
};
