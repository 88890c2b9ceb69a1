//! The client's address behind reverse proxies (`[http] trusted_proxies`): the source address the
//! audit log, throttling and logs record.
//!
//! Only when the connection comes from a trusted proxy is `X-Forwarded-For` read, right to left,
//! skipping the trusted proxies in the chain; the first address that is not one is the client.
//! From any other peer the header is ignored: a client can write anything into it. The middleware
//! replaces the connection's `ConnectInfo` with the result, so every handler sees the same source.
//! It must never trust a header from an untrusted peer, and never fail a request over a bad one.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;

/// An address block in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), or one address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix` or a bare address; the address may not have bits set past the
    /// prefix (`10.0.0.1/8` is refused as a likely typo).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR block"))?;
        let max = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != network_bits(network) {
            return Err(format!("`{text}`: bits are set past the prefix length"));
        }
        Ok(cidr)
    }

    /// Whether `address` lies in this block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                self.masked(address) == self.masked(self.network)
            }
            _ => false,
        }
    }

    fn masked(&self, address: IpAddr) -> u128 {
        let (bits, width) = match address {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
            IpAddr::V6(v6) => (u128::from(v6), 128u32),
        };
        let host_bits = width - u32::from(self.prefix);
        if host_bits >= 128 {
            0
        } else {
            bits >> host_bits << host_bits
        }
    }
}

fn network_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One `X-Forwarded-For` element: an address, possibly with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn forwarded_address(element: &str) -> Option<IpAddr> {
    let element = element.trim();
    element
        .parse::<IpAddr>()
        .or_else(|_| element.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

/// The client's address: the peer itself, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` address that is not a trusted proxy. When every listed address is
/// trusted, the left-most; when an element does not parse, the last trusted hop before it (what
/// follows an unreadable element cannot be attributed to anyone).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |address: IpAddr| trusted.iter().any(|cidr| cidr.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let elements: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .collect();
    let mut source = peer;
    for element in elements.iter().rev() {
        let Some(address) = forwarded_address(element) else {
            return source;
        };
        source = address;
        if !is_trusted(address) {
            return address;
        }
    }
    source
}

/// Replaces the connection's `ConnectInfo` with the client's address, so that every handler
/// (GraphQL, token endpoint, login) records the same source.
pub(crate) async fn middleware(
    State(trusted): State<Arc<Vec<Cidr>>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !trusted.is_empty()
        && let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
    {
        let peer = *peer;
        let values = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        let client = client_address(peer.ip(), values, &trusted);
        if client != peer.ip() {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, 0)));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|text| Cidr::parse(text).unwrap()).collect()
    }

    #[track_caller]
    fn check(peer: &str, headers: &[&str], trusted: &[&str], want: &str) {
        let got = client_address(
            peer.parse().unwrap(),
            headers.iter().copied(),
            &cidrs(trusted),
        );
        assert_eq!(got, want.parse::<IpAddr>().unwrap(), "{peer} {headers:?}");
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies = ["10.0.0.0/8", "2001:db8:ff::/48"];
        let cases: &[(&str, &[&str], &[&str], &str)] = &[
            // No proxies configured: the header is ignored.
            ("203.0.113.9", &["198.51.100.1"], &[], "203.0.113.9"),
            // A spoofed header from an untrusted peer is ignored.
            ("203.0.113.9", &["198.51.100.1"], &proxies, "203.0.113.9"),
            ("203.0.113.9", &["10.0.0.1"], &proxies, "203.0.113.9"),
            // One trusted proxy: the address it saw.
            ("10.1.2.3", &["198.51.100.1"], &proxies, "198.51.100.1"),
            // The client's own prefix is not trusted: only the right-most untrusted counts.
            (
                "10.1.2.3",
                &["6.6.6.6, 198.51.100.1"],
                &proxies,
                "198.51.100.1",
            ),
            // A chain of trusted proxies is skipped, also over several header lines.
            (
                "10.1.2.3",
                &["198.51.100.1, 10.9.9.9", "10.8.8.8"],
                &proxies,
                "198.51.100.1",
            ),
            // IPv6, ports, and IPv4-mapped peers.
            (
                "2001:db8:ff::1",
                &["[2001:db8::7]:443"],
                &proxies,
                "2001:db8::7",
            ),
            (
                "::ffff:10.1.2.3",
                &["198.51.100.1:5555"],
                &proxies,
                "198.51.100.1",
            ),
            // Only trusted addresses: the left-most.
            ("10.1.2.3", &["10.2.2.2, 10.3.3.3"], &proxies, "10.2.2.2"),
            // No header from a trusted proxy: the proxy itself.
            ("10.1.2.3", &[], &proxies, "10.1.2.3"),
            // Garbage stops the walk at the last trusted hop.
            (
                "10.1.2.3",
                &["198.51.100.1, not-an-ip"],
                &proxies,
                "10.1.2.3",
            ),
            (
                "10.1.2.3",
                &["198.51.100.1, not-an-ip, 10.4.4.4"],
                &proxies,
                "10.4.4.4",
            ),
        ];
        for (peer, headers, trusted, want) in cases {
            check(peer, headers, trusted, want);
        }
    }

    #[test]
    fn cidr_blocks_parse_strictly() {
        for good in [
            "10.0.0.0/8",
            "192.0.2.7",
            "0.0.0.0/0",
            "2001:db8::/32",
            "::1",
        ] {
            assert!(Cidr::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.org",
            "10.0.0.0/",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let block = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(block.contains("192.0.2.255".parse().unwrap()));
        assert!(!block.contains("192.0.3.0".parse().unwrap()));
        assert!(block.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!block.contains("2001:db8::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
