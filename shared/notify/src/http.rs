//! The outbound HTTP client of webhook-like deliveries, guarded against being pointed
//! at the inside: HTTPS only; no address in a private, loopback, link-local, shared or
//! otherwise non-public range (169.254.169.254 and the other metadata endpoints among
//! them). The check runs on every send, on the addresses DNS returns, and the connection
//! goes to exactly those checked addresses (the client's resolver is the guard), so a
//! name cannot be re-pointed between check and connect. Redirects are not followed.

use crate::transport::{HttpAnswer, HttpTransport, SendError};
use beacon_domain::EndpointUrl;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A delivery succeeds only with a 2xx within this.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// What outbound requests may reach. The defaults are for production; local
/// development may allow plain HTTP and loopback (never private ranges).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    pub allow_plain_http: bool,
    pub allow_loopback: bool,
}

/// Why an address is refused, or `None` when it is public.
pub fn refusal(ip: IpAddr, policy: OutboundPolicy) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4, policy),
        IpAddr::V6(v6) => {
            // IPv4 carried in IPv6 (mapped, or NAT64's well-known prefix) is judged as IPv4.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refusal_v4(v4, policy);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return refusal_v4(Ipv4Addr::new(a, b, c, d), policy);
            }
            if v6.is_loopback() {
                return (!policy.allow_loopback).then_some("a loopback address");
            }
            if v6.is_unspecified() {
                return Some("the unspecified address");
            }
            if v6.is_unique_local() {
                // fd00:ec2::254, the EC2 metadata service over IPv6, is in here.
                return Some("a private (unique local) address");
            }
            if v6.is_unicast_link_local() {
                return Some("a link-local address");
            }
            if v6.is_multicast() {
                return Some("a multicast address");
            }
            // Deprecated site-local, documentation, and the IPv4-compatible range.
            if (s[0] & 0xffc0) == 0xfec0 || (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0..6] == [0; 6]) {
                return Some("a reserved address");
            }
            None
        }
    }
}

fn refusal_v4(ip: Ipv4Addr, policy: OutboundPolicy) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    if ip.is_loopback() {
        return (!policy.allow_loopback).then_some("a loopback address");
    }
    if ip.is_private() {
        return Some("a private address");
    }
    if ip.is_link_local() {
        return Some("a link-local address (cloud metadata lives here)");
    }
    if ip.is_unspecified() || a == 0 {
        return Some("the unspecified network");
    }
    if a == 100 && (64..128).contains(&b) {
        return Some("a shared (carrier-grade NAT) address");
    }
    if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        return Some("a broadcast, multicast or reserved address");
    }
    if ip.is_documentation() || (a == 192 && b == 0 && ip.octets()[2] == 0) || (a == 198 && (b == 18 || b == 19)) {
        return Some("a reserved address");
    }
    None
}

/// Checks a URL's scheme and, for an IP literal host, its address. Names are checked
/// when resolved.
pub fn check_url(url: &EndpointUrl, policy: OutboundPolicy) -> Result<url::Url, SendError> {
    let parsed = url::Url::parse(url.as_str()).map_err(|e| SendError::Refused(format!("invalid url: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_plain_http => {}
        other => return Err(SendError::Refused(format!("{other} is not allowed; use https"))),
    }
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy)?,
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy)?,
        Some(url::Host::Domain(_)) => {}
        None => return Err(SendError::Refused("the url has no host".into())),
    }
    Ok(parsed)
}

fn check_ip(ip: IpAddr, policy: OutboundPolicy) -> Result<(), SendError> {
    match refusal(ip, policy) {
        Some(why) => Err(SendError::Refused(format!("{ip} is {why}"))),
        None => Ok(()),
    }
}

/// The resolver that is the guard: a name resolving to any refused address is refused
/// as a whole (a mix of public and private answers is a rebinding attempt).
#[derive(Debug)]
pub struct GuardedResolver {
    policy: OutboundPolicy,
}

impl GuardedResolver {
    /// A resolver refusing what `policy` refuses: hand it to any reqwest client that
    /// reaches user-given addresses (webhooks, probes).
    pub fn new(policy: OutboundPolicy) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            for addr in &addrs {
                if let Some(why) = refusal(addr.ip(), policy) {
                    return Err(format!("refused: {host} resolves to {} which is {why}", addr.ip()).into());
                }
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded client.
#[derive(Clone, Debug)]
pub struct GuardedHttp {
    client: reqwest::Client,
    policy: OutboundPolicy,
}

impl GuardedHttp {
    pub fn new(policy: OutboundPolicy) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DELIVERY_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(policy)))
            .user_agent(concat!("Beacon-Notifications/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }
}

impl GuardedHttp {
    /// Fetches a URL under the same guard, reading at most `max_bytes` of its body: the
    /// status and the body.
    pub async fn get(&self, url: &EndpointUrl, max_bytes: usize) -> Result<(u16, Vec<u8>), SendError> {
        let parsed = check_url(url, self.policy)?;
        let failed = |e: reqwest::Error| {
            let e = e.without_url();
            let cause = root_cause(&e);
            if cause.starts_with("refused:") {
                SendError::Refused(cause.trim_start_matches("refused: ").to_owned())
            } else {
                SendError::Failed(format!("{e}: {cause}"))
            }
        };
        let mut response = self.client.get(parsed).send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(SendError::Failed(format!("the answer is over {max_bytes} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

/// The innermost cause of an error, where "refused: …" from the resolver lives.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[async_trait::async_trait]
impl HttpTransport for GuardedHttp {
    async fn post(
        &self,
        url: &EndpointUrl,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<HttpAnswer, SendError> {
        let parsed = check_url(url, self.policy)?;
        let mut request = self.client.post(parsed).header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let started = Instant::now();
        match request.body(body).send().await {
            Ok(response) => Ok(HttpAnswer { status: response.status().as_u16(), latency: started.elapsed() }),
            Err(e) => {
                // Never the URL: a chat webhook's path (or query) is its secret, and
                // this text reaches logs and the admin's delivery log.
                let e = e.without_url();
                let cause = root_cause(&e);
                if cause.starts_with("refused:") {
                    Err(SendError::Refused(cause.trim_start_matches("refused: ").to_owned()))
                } else if e.is_timeout() {
                    Err(SendError::Failed(format!("no answer within {}s", DELIVERY_TIMEOUT.as_secs())))
                } else {
                    Err(SendError::Failed(format!("{e}: {cause}")))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: OutboundPolicy = OutboundPolicy { allow_plain_http: false, allow_loopback: false };

    fn refused(ip: &str) -> bool {
        refusal(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), STRICT).is_some()
    }

    #[test]
    fn inside_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.170.2",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "192.0.0.170",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }

    #[test]
    fn loopback_only_when_allowed_and_never_private() {
        let dev = OutboundPolicy { allow_plain_http: true, allow_loopback: true };
        assert!(refusal("127.0.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), dev).is_none());
        assert!(refusal("10.0.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), dev).is_some());
        assert!(refusal("169.254.169.254".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), dev).is_some());
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let url = EndpointUrl::parse("http://example.com/hook", true).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(check_url(&url, STRICT), Err(SendError::Refused(_))));
        let dev = OutboundPolicy { allow_plain_http: true, allow_loopback: false };
        assert!(check_url(&url, dev).is_ok());
    }
}
