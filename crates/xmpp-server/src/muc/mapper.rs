//! muc_domain_mapper: `room@conference.TENANT.BASE` and
//! `[tenant]room@conference.BASE` name the same room (jitsi-protocol §2.10).
//! Rooms are keyed by the second (canonical) form.

/// Where a stanza's `to` points inside this service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addr {
    /// The service itself (its domain, or a tenant's form of it).
    Service { tenant: Option<String> },
    /// A room: `key` is the canonical bare JID, `view` the bare JID as the
    /// sender wrote it (replies to that sender use the same form).
    Room { key: String, view: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Mapper {
    domain: String,
    /// First label of the domain (`conference`), which the tenant form keeps.
    prefix: String,
    base: Option<String>,
}

impl Mapper {
    pub(crate) fn new(domain: &str, base: Option<&str>) -> Self {
        let domain = domain.trim_end_matches('.').to_lowercase();
        let prefix = domain.split('.').next().unwrap_or_default().to_string();
        Self {
            prefix,
            base: base
                .map(|b| b.trim_end_matches('.').to_lowercase())
                .filter(|b| !b.is_empty()),
            domain,
        }
    }

    /// The tenant named by a domain of the form `PREFIX.TENANT.BASE`.
    fn tenant_of<'a>(&self, domain: &'a str) -> Option<&'a str> {
        let base = self.base.as_deref()?;
        let tenant = domain
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?
            .strip_suffix(base)?
            .strip_suffix('.')?;
        // One label only: deeper names are not something the mapper produces.
        (!tenant.is_empty() && !tenant.contains('.')).then_some(tenant)
    }

    /// Resolve a (lower-cased) node and domain; None when not ours.
    pub(crate) fn resolve(&self, node: Option<&str>, domain: &str) -> Option<Addr> {
        if domain == self.domain {
            return Some(match node {
                None => Addr::Service { tenant: None },
                Some(n) => {
                    let jid = format!("{n}@{domain}");
                    Addr::Room {
                        key: jid.clone(),
                        view: jid,
                    }
                }
            });
        }
        let tenant = self.tenant_of(domain)?;
        Some(match node {
            None => Addr::Service {
                tenant: Some(tenant.to_string()),
            },
            Some(n) => Addr::Room {
                key: format!("[{tenant}]{n}@{}", self.domain),
                view: format!("{n}@{domain}"),
            },
        })
    }

    /// The tenant form of a canonical key (`[t]room@conference.BASE` →
    /// `room@conference.t.BASE`), if it is a tenant room.
    pub(crate) fn tenant_view(&self, key: &str, tenant: &str) -> Option<String> {
        let base = self.base.as_deref()?;
        let (node, _) = key.split_once('@')?;
        let room = node
            .strip_prefix('[')?
            .strip_prefix(tenant)?
            .strip_prefix(']')?;
        Some(format!("{room}@{}.{tenant}.{base}", self.prefix))
    }
}
