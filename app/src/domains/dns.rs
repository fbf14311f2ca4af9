//! TXT lookups for domain verification, with a real resolver (`hickory-resolver`): against the
//! nameserver `TENANTRY_DNS_SERVER` names, or the system's (`/etc/resolv.conf`). Answers are not
//! cached, so a check right after an admin publishes the record sees it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hickory_resolver::{
    config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig},
    net::runtime::TokioRuntimeProvider,
    proto::rr::RData,
    TokioResolver,
};

/// The resolver, or why there is none (looked up lazily: a machine without a resolver still
/// serves; its checks say why they cannot run).
#[derive(Clone)]
pub struct Dns(Arc<Result<TokioResolver, String>>);

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txt {
    /// The record's values (each record's strings joined, as RFC 7208 reads them).
    Found(Vec<String>),
    /// The name has no TXT record (or does not exist).
    None,
    /// The lookup itself failed (timeout, refused, no resolver).
    Failed(String),
}

impl Dns {
    /// A resolver asking `server` only, or the system's nameservers when `None`.
    pub fn new(server: Option<SocketAddr>) -> Self {
        let provider = TokioRuntimeProvider::default();
        let builder = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                Ok(TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                ))
            }
            None => TokioResolver::builder(provider).map_err(|e| {
                tracing::warn!(error = %e, "the system's DNS configuration cannot be read");
                "the server has no DNS configuration".to_string()
            }),
        };
        let resolver = builder.and_then(|mut builder| {
            let options = builder.options_mut();
            options.timeout = Duration::from_secs(3);
            options.attempts = 1;
            options.use_hosts_file = ResolveHosts::Never;
            options.positive_max_ttl = Some(Duration::ZERO);
            options.negative_max_ttl = Some(Duration::ZERO);
            builder.build().map_err(|e| {
                tracing::warn!(error = %e, "the DNS resolver cannot start");
                "the server's DNS resolver cannot start".to_string()
            })
        });
        Self(Arc::new(resolver))
    }

    /// The TXT records at `name` (a full domain name).
    pub async fn txt(&self, name: &str) -> Txt {
        let resolver = match self.0.as_ref() {
            Ok(resolver) => resolver,
            Err(why) => return Txt::Failed(why.clone()),
        };
        match resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => {
                let values: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if values.is_empty() {
                    Txt::None
                } else {
                    Txt::Found(values)
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Txt::None,
            // The admin reads this: what happened, not the resolver's internals (the log has
            // those).
            Err(e) => {
                tracing::warn!(name, error = %e, "a TXT lookup failed");
                Txt::Failed(
                    if matches!(e, hickory_resolver::net::NetError::Timeout) {
                        "the nameserver did not answer in time"
                    } else {
                        "the nameserver could not be asked or refused to answer"
                    }
                    .to_string(),
                )
            }
        }
    }
}
