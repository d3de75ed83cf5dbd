// SPDX-License-Identifier: MPL-2.0
//! Which senders a receiver accepts: the `source` property of `udpjpegdepay`.
//!
//! Pure: no GStreamer types, no panics on any input.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A sender filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SourceFilter {
    /// Every sender (the empty string).
    #[default]
    Any,
    /// Only this IP address, any port.
    Ip(IpAddr),
    /// Only this IP address and port.
    Addr(SocketAddr),
    /// The IP address of the first sender heard, any port, locked from then on.
    First(Option<IpAddr>),
}

/// A `source` value that is none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a source: use an empty string (every sender), an IP address \
             (192.0.2.1, ::1), an address and port (192.0.2.1:5000, [::1]:5000) or 'first'",
            self.0
        )
    }
}

impl std::error::Error for ParseError {}

impl SourceFilter {
    pub fn parse(s: &str) -> Result<SourceFilter, ParseError> {
        let t = s.trim();
        if t.is_empty() {
            return Ok(SourceFilter::Any);
        }
        if t.eq_ignore_ascii_case("first") {
            return Ok(SourceFilter::First(None));
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(SourceFilter::Ip(ip));
        }
        if let Ok(addr) = t.parse::<SocketAddr>() {
            return Ok(SourceFilter::Addr(addr));
        }
        Err(ParseError(s.to_string()))
    }

    /// Whether a datagram from `sender` is accepted; `First` locks onto the
    /// first sender with an address. Datagrams without an address (not from
    /// udpsrc) are accepted only by `Any` and `First`.
    pub fn accepts(&mut self, sender: Option<SocketAddr>) -> bool {
        match (self, sender) {
            (SourceFilter::Any, _) => true,
            (SourceFilter::First(_), None) => true,
            (SourceFilter::First(locked @ None), Some(a)) => {
                *locked = Some(canonical(a.ip()));
                true
            }
            (SourceFilter::First(Some(ip)), Some(a)) => *ip == canonical(a.ip()),
            (SourceFilter::Ip(ip), Some(a)) => canonical(*ip) == canonical(a.ip()),
            (SourceFilter::Addr(want), Some(a)) => {
                canonical(want.ip()) == canonical(a.ip()) && want.port() == a.port()
            }
            (_, None) => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn parse_forms() {
        assert_eq!(SourceFilter::parse(""), Ok(SourceFilter::Any));
        assert_eq!(SourceFilter::parse("  "), Ok(SourceFilter::Any));
        assert_eq!(SourceFilter::parse("first"), Ok(SourceFilter::First(None)));
        assert_eq!(SourceFilter::parse("FIRST"), Ok(SourceFilter::First(None)));
        assert_eq!(
            SourceFilter::parse("127.0.0.1"),
            Ok(SourceFilter::Ip("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            SourceFilter::parse("::1"),
            Ok(SourceFilter::Ip("::1".parse().unwrap()))
        );
        assert_eq!(
            SourceFilter::parse("127.0.0.1:5000"),
            Ok(SourceFilter::Addr("127.0.0.1:5000".parse().unwrap()))
        );
        assert_eq!(
            SourceFilter::parse("[::1]:5000"),
            Ok(SourceFilter::Addr("[::1]:5000".parse().unwrap()))
        );
        for bad in [
            "localhost",
            "1.2.3",
            "1.2.3.4:99999",
            "firstly",
            "127.0.0.1:",
        ] {
            let err = SourceFilter::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn any_takes_everything() {
        let mut f = SourceFilter::Any;
        assert!(f.accepts(None));
        assert!(f.accepts(a("10.0.0.1:1")));
    }

    #[test]
    fn ip_takes_any_port_of_that_ip() {
        let mut f = SourceFilter::parse("127.0.0.1").unwrap();
        assert!(f.accepts(a("127.0.0.1:5000")));
        assert!(f.accepts(a("127.0.0.1:6000")));
        assert!(!f.accepts(a("127.0.0.2:5000")));
        assert!(!f.accepts(None));
        // The same address seen through a dual-stack socket.
        assert!(f.accepts(a("[::ffff:127.0.0.1]:7000")));
    }

    #[test]
    fn addr_takes_only_that_port() {
        let mut f = SourceFilter::parse("127.0.0.1:5000").unwrap();
        assert!(f.accepts(a("127.0.0.1:5000")));
        assert!(!f.accepts(a("127.0.0.1:5001")));
        assert!(!f.accepts(a("127.0.0.2:5000")));
    }

    #[test]
    fn first_locks_onto_the_first_ip_any_port() {
        let mut f = SourceFilter::parse("first").unwrap();
        assert!(f.accepts(None), "no address: nothing to lock onto");
        assert_eq!(f, SourceFilter::First(None));
        assert!(f.accepts(a("127.0.0.5:4000")));
        assert!(
            f.accepts(a("127.0.0.5:4001")),
            "a restarted sender on a new port"
        );
        assert!(!f.accepts(a("127.0.0.6:4000")));
        assert_eq!(f, SourceFilter::First(Some("127.0.0.5".parse().unwrap())));
    }
}
