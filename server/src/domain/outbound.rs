//! Which network addresses webhooks may be sent to. Decided on the address a connection is
//! actually made to (after DNS), never on the URL's text: a registered host name may resolve
//! anywhere, and may resolve differently tomorrow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The operator's choice (`--allow-loopback-targets`, `--deny-private-targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundPolicy {
    /// Loopback addresses (127.0.0.0/8, ::1): a receiver on this machine. Off by default: on a
    /// server, loopback reaches its own admin ports.
    pub allow_loopback: bool,
    /// Refuse RFC 1918 and unique-local (fc00::/7) addresses too: for hosted installs shared by
    /// several organisations. Off by default: lab receivers live on intranets.
    pub deny_private: bool,
}

/// What kind of address was refused, in words for the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Loopback,
    LinkLocal,
    Unspecified,
    Private,
    /// Multicast, broadcast, documentation and other ranges no receiver lives on.
    Reserved,
}

impl Refused {
    pub fn describe(self) -> &'static str {
        match self {
            Refused::Loopback => {
                "a loopback address (this machine); the operator allows it with --allow-loopback-targets"
            }
            Refused::LinkLocal => "a link-local or cloud metadata address",
            Refused::Unspecified => "an unspecified address",
            Refused::Private => {
                "a private network address, refused on this server (--deny-private-targets)"
            }
            Refused::Reserved => "a reserved, multicast or broadcast address",
        }
    }
}

impl OutboundPolicy {
    /// Whether a connection to `ip` is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = match ip {
            // ::ffff:a.b.c.d is the IPv4 address a.b.c.d.
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Loopback if self.allow_loopback => Ok(()),
            Class::Private if !self.deny_private => Ok(()),
            Class::Loopback => Err(Refused::Loopback),
            Class::Private => Err(Refused::Private),
            Class::LinkLocal => Err(Refused::LinkLocal),
            Class::Unspecified => Err(Refused::Unspecified),
            Class::Reserved => Err(Refused::Reserved),
        }
    }
}

enum Class {
    Public,
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    Reserved,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_link_local() {
        // 169.254.0.0/16 holds the cloud metadata service (169.254.169.254).
        Class::LinkLocal
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918 and carrier-grade NAT (100.64.0.0/10).
        Class::Private
    } else if ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a >= 240
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        Class::Reserved
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if first & 0xffc0 == 0xfe80 || ip == AWS_METADATA_V6 {
        Class::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        // Unique local addresses (fc00::/7): IPv6's private networks.
        Class::Private
    } else if ip.is_multicast() || first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Class::Reserved
    } else {
        // Forms that carry an IPv4 address must not smuggle it past the IPv4 rules: the
        // address is judged by the strictest of what it carries.
        embedded_v4(ip)
            .into_iter()
            .map(classify_v4)
            .find(|class| !matches!(class, Class::Public))
            .unwrap_or(Class::Public)
    }
}

/// The IPv4 addresses an IPv6 address carries and may be routed to: ::a.b.c.d
/// (IPv4-compatible), ::ffff:0:a.b.c.d (SIIT), 64:ff9b::a.b.c.d and 64:ff9b:1::/48 (NAT64,
/// well-known and local), 2002:aabb:ccdd::/48 (6to4) and 2001:0::/32 (Teredo: its server, and
/// its client, stored inverted in the last 32 bits).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    let last = v4(s[6], s[7]);
    if s[..6] == [0; 6]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || s[..3] == [0x64, 0xff9b, 1]
    {
        vec![last]
    } else if s[0] == 0x2002 {
        vec![v4(s[1], s[2])]
    } else if s[..2] == [0x2001, 0] {
        vec![v4(s[2], s[3]), v4(!s[6], !s[7])]
    } else {
        Vec::new()
    }
}

/// AWS's IPv6 instance metadata endpoint (fd00:ec2::254), which is also in the ULA range.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: OutboundPolicy, ip: &str) -> Result<(), Refused> {
        policy.check(ip.parse().unwrap())
    }

    #[test]
    fn the_default_refuses_this_machine_and_metadata_and_allows_intranets() {
        let p = OutboundPolicy::default();
        for (ip, expected) in [
            ("127.0.0.1", Err(Refused::Loopback)),
            ("127.10.0.1", Err(Refused::Loopback)),
            ("::1", Err(Refused::Loopback)),
            ("::ffff:127.0.0.1", Err(Refused::Loopback)),
            ("169.254.169.254", Err(Refused::LinkLocal)),
            ("fe80::1", Err(Refused::LinkLocal)),
            ("fd00:ec2::254", Err(Refused::LinkLocal)),
            ("0.0.0.0", Err(Refused::Unspecified)),
            ("::", Err(Refused::Unspecified)),
            ("224.0.0.1", Err(Refused::Reserved)),
            ("255.255.255.255", Err(Refused::Reserved)),
            ("64:ff9b::7f00:1", Err(Refused::Loopback)),
            ("::ffff:0:7f00:1", Err(Refused::Loopback)),
            ("::ffff:0:a9fe:a9fe", Err(Refused::LinkLocal)),
            ("64:ff9b:1::a9fe:a9fe", Err(Refused::LinkLocal)),
            ("64:ff9b:1:ffff::7f00:1", Err(Refused::Loopback)),
            ("2002:7f00:1::1", Err(Refused::Loopback)),
            ("2002:a9fe:a9fe::", Err(Refused::LinkLocal)),
            // Teredo, client 127.0.0.1 (inverted: 80ff:fffe) behind server 65.54.227.120.
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                Err(Refused::Loopback),
            ),
            ("2002:5db8:d70e::1", Ok(())),
            ("10.1.2.3", Ok(())),
            ("172.16.0.9", Ok(())),
            ("192.168.1.20", Ok(())),
            ("fd12:3456::1", Ok(())),
            ("93.184.215.14", Ok(())),
            ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", Ok(())),
        ] {
            assert_eq!(check(p, ip), expected, "{ip}");
        }
    }

    #[test]
    fn operators_choose_loopback_and_private_ranges() {
        let lab = OutboundPolicy {
            allow_loopback: true,
            deny_private: false,
        };
        assert_eq!(check(lab, "127.0.0.1"), Ok(()));
        assert_eq!(check(lab, "::1"), Ok(()));
        assert_eq!(check(lab, "169.254.169.254"), Err(Refused::LinkLocal));
        let hosted = OutboundPolicy {
            allow_loopback: false,
            deny_private: true,
        };
        for ip in [
            "10.0.0.1",
            "192.168.0.1",
            "172.31.255.255",
            "100.64.0.1",
            "fc00::1",
        ] {
            assert_eq!(check(hosted, ip), Err(Refused::Private), "{ip}");
        }
        assert_eq!(check(hosted, "8.8.8.8"), Ok(()));
    }
}
