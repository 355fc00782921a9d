//! Keeps provider base URLs away from internal addresses (SSRF): a URL whose host is, or resolves
//! to, a loopback, private, link-local, site-local, shared (CGNAT), unspecified or multicast
//! address — also inside IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64 and 6to4 IPv6
//! addresses — is refused unless the operator allows private base URLs
//! (`providers.allow_private_base_urls`, for local model servers). Checked when a provider is
//! created or its URL changes, and again at every connection. The refusal never says which
//! address a name resolved to, so it cannot be used to map the internal network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use async_trait::async_trait;
use docent_providers::BaseUrlGuard;

/// How long resolving a host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The network check for base URLs.
#[derive(Debug, Clone, Copy)]
pub struct NetworkGuard {
    allow_private: bool,
}

impl NetworkGuard {
    /// A guard; `allow_private` lets every address through.
    #[must_use]
    pub const fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let segments = ip.segments();
    let first = segments[0];
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d, RFC 2765), NAT64
    // (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that may be internal.
    if segments[..6].iter().all(|s| *s == 0) && !ip.is_loopback() && !ip.is_unspecified() {
        return internal_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return internal_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return internal_v4(embedded_v4(segments[6], segments[7]));
    }
    if first == 0x2002 {
        return internal_v4(embedded_v4(segments[1], segments[2]));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10), deprecated site-local (fec0::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Local-use NAT64 (64:ff9b:1::/48, RFC 8215): translators inside the network.
        || segments[..3] == [0x64, 0xff9b, 0x1]
}

/// Whether docent must not call `ip` from a provider URL.
#[must_use]
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

#[async_trait]
impl BaseUrlGuard for NetworkGuard {
    async fn check(&self, raw: &str) -> Result<(), String> {
        if self.allow_private {
            return Ok(());
        }
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) => {
                let lookup = tokio::net::lookup_host((name, port));
                tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
                    .await
                    .map_err(|_| format!("resolving {name} took too long"))?
                    .map_err(|e| format!("cannot resolve {name}: {e}"))?
                    .map(|a| a.ip())
                    .collect()
            }
            None => return Err("the URL has no host".to_owned()),
        };
        if addresses.is_empty() {
            return Err("the host resolves to no address".to_owned());
        }
        if addresses.into_iter().any(is_internal) {
            // Which address stays unsaid: naming it would let callers map the internal network.
            return Err(
                "it points at an internal address; the operator can allow this with providers.allow_private_base_urls"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// Resolves host names for calls to providers, refusing names that resolve to internal
/// addresses: the check at save time cannot see a DNS record that changes afterwards. The
/// operator's proxy (which usually is internal) is the one name exempt.
#[derive(Debug, Clone)]
struct GuardedResolver {
    proxy_host: Option<String>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let exempt = self
            .proxy_host
            .as_deref()
            .is_some_and(|proxy| proxy.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let addresses: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !exempt && addresses.iter().any(|a| is_internal(a.ip())) {
                return Err("refused: the provider's host resolves to an internal address".into());
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client for calls to model providers: no redirects (a public URL must not bounce a
/// call inward), no proxy from the environment (`HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` are
/// ignored: a proxy resolves names itself, past the guard), only the operator's `proxy` when one
/// is configured (which then has to enforce where calls may go), and, unless the operator allows
/// private base URLs, host names resolved through the guard at every connection.
pub fn provider_http_client(
    allow_private: bool,
    proxy: Option<&str>,
) -> Result<reqwest::Client, String> {
    crate::tls::init();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .no_proxy();
    let mut proxy_host = None;
    if let Some(proxy) = proxy {
        proxy_host = url::Url::parse(proxy)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        builder = builder
            .proxy(reqwest::Proxy::all(proxy).map_err(|e| format!("providers.proxy_url: {e}"))?);
    }
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(GuardedResolver { proxy_host }));
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the provider HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_recognized() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "fec0::1",
            "feff::1",
            "64:ff9b:1::808:808",
            "::ffff:0:7f00:1",
            "::ffff:0:a9fe:a9fe",
            "::7f00:1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "100.128.0.1",
            "172.32.0.1",
            "::ffff:0:808:808",
            "64:ff9b:2::808:808",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn internal_urls_are_refused_unless_allowed() {
        let guard = NetworkGuard::new(false);
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://localhost:11434/v1",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/v1",
            "http://10.0.0.5/v1",
        ] {
            let refused = guard.check(url).await.unwrap_err();
            assert!(
                refused.contains("internal address") || refused.contains("resolve"),
                "{url}: {refused}"
            );
            // The resolved address is never echoed.
            for leaked in ["127.0.0.1", "::1", "10.0.0.5", "169.254"] {
                assert!(
                    !refused.contains(leaked) || url.contains(leaked),
                    "{url}: {refused}"
                );
            }
        }
        assert!(guard.check("http://93.184.215.14/v1").await.is_ok());
        let open = NetworkGuard::new(true);
        assert!(open.check("http://127.0.0.1:8080/v1").await.is_ok());
    }

    #[tokio::test]
    async fn calls_cannot_reach_internal_hosts_by_name_or_redirect() {
        // A local server that redirects every request to another local address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0_u8; 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/secret\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        // By name: `localhost` resolves to loopback, refused at connection time.
        let guarded = provider_http_client(false, None).unwrap();
        let refused = guarded
            .get(format!("http://localhost:{port}/v1"))
            .send()
            .await;
        assert!(refused.is_err(), "{refused:?}");
        // Redirects are not followed, even where private addresses are allowed.
        let open = provider_http_client(true, None).unwrap();
        let response = open
            .get(format!("http://localhost:{port}/v1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 302);
    }
}
