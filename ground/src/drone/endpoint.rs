//! Where a MAVLink link listens or connects: `udpin:`, `udpout:` or `tcp:`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// A link's transport and address, as written in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Listen on UDP like a ground control station; replies go to the
    /// address each vehicle last sent from.
    UdpIn(String),
    /// Send to a vehicle (or router) at this UDP address, and listen for its
    /// replies on an ephemeral port.
    UdpOut(String),
    /// Connect to a vehicle or router over TCP (SITL's `tcp:5760`).
    Tcp(String),
}

impl Endpoint {
    /// Parses `udpin:HOST:PORT`, `udpout:HOST:PORT` or `tcp:HOST:PORT`.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let (scheme, addr) = text.split_once(':').ok_or_else(|| {
            format!("{text:?} is not a link address: write udpin:HOST:PORT, udpout:HOST:PORT or tcp:HOST:PORT")
        })?;
        if !matches!(scheme, "udpin" | "udpout" | "tcp" | "tcpout") {
            return Err(format!(
                "{text:?}: unknown transport {scheme:?}: use udpin:HOST:PORT, udpout:HOST:PORT or tcp:HOST:PORT"
            ));
        }
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} has no port: write {scheme}:HOST:PORT"))?;
        if host.is_empty() {
            return Err(format!("{text:?} has no host: write {scheme}:HOST:PORT"));
        }
        port.parse::<u16>()
            .map_err(|_| format!("{text:?}: port {port:?} is not a number from 0 to 65535"))?;
        let addr = addr.to_string();
        match scheme {
            "udpin" => Ok(Endpoint::UdpIn(addr)),
            "udpout" => Ok(Endpoint::UdpOut(addr)),
            _ => Ok(Endpoint::Tcp(addr)),
        }
    }

    /// The `HOST:PORT` part.
    pub fn address(&self) -> &str {
        match self {
            Endpoint::UdpIn(a) | Endpoint::UdpOut(a) | Endpoint::Tcp(a) => a,
        }
    }

    /// Resolves the address (first result).
    pub fn resolve(&self) -> std::io::Result<SocketAddr> {
        self.address().to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.address()),
            )
        })
    }
}

impl Endpoint {
    /// Whether only this machine can reach the link: a loopback address or
    /// `localhost`. An unresolvable or unspecified host counts as reachable
    /// from a network.
    pub fn is_loopback(&self) -> bool {
        let host = self
            .address()
            .rsplit_once(':')
            .map_or(self.address(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether the port is 0 (picked by the system at bind time, so two
    /// such links never share an address).
    pub fn any_port(&self) -> bool {
        self.address().ends_with(":0")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::UdpIn(a) => write!(f, "udpin:{a}"),
            Endpoint::UdpOut(a) => write!(f, "udpout:{a}"),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_explains_mistakes() {
        assert_eq!(
            Endpoint::parse("udpin:127.0.0.1:14550").unwrap(),
            Endpoint::UdpIn("127.0.0.1:14550".into())
        );
        assert_eq!(
            Endpoint::parse("udpout:[::1]:14555").unwrap(),
            Endpoint::UdpOut("[::1]:14555".into())
        );
        assert_eq!(
            Endpoint::parse("tcp:localhost:5760").unwrap().to_string(),
            "tcp:localhost:5760"
        );
        assert!(
            Endpoint::parse("127.0.0.1:14550")
                .unwrap_err()
                .contains("unknown transport")
        );
        assert!(
            Endpoint::parse("udpin:127.0.0.1")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            Endpoint::parse("udpin:h:99999")
                .unwrap_err()
                .contains("port")
        );
        assert!(
            Endpoint::parse("nonsense")
                .unwrap_err()
                .contains("udpin:HOST:PORT")
        );
    }
}
