//! Addresses as keys: `(ip, port)` in an inline, order-preserving form for the registry's look-ups.

/// An order-preserving inline form of `(ip, port)` for ips of at most 16 bytes: the ip's bytes,
/// big-endian, zero-padded (text never holds a zero byte, so a shorter ip sorts first, as in
/// `str` order), then the port. Registries search sorted keys instead of chasing each
/// instance's ip string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddrKey {
    ip: u128,
    port: u16,
}

impl AddrKey {
    pub fn of(ip: &str, port: u16) -> Option<AddrKey> {
        let b = ip.as_bytes();
        (b.len() <= 16).then(|| {
            let mut buf = [0u8; 16];
            buf[..b.len()].copy_from_slice(b);
            AddrKey { ip: u128::from_be_bytes(buf), port }
        })
    }

    /// A well-mixed 64-bit hash, for hash indexes; the same on every machine.
    pub fn hash_bits(&self) -> u64 {
        crate::engine::trace::avalanche((self.ip as u64) ^ ((self.ip >> 64) as u64).rotate_left(17) ^ self.port as u64)
    }
}

/// An `(ip, port)` to look up, with its key worked out once (a beat request carries its own).
/// The fields are private to `wire` so the key always matches the address.
#[derive(Clone, Copy, Debug)]
pub struct Addr<'a> {
    pub(super) ip: &'a str,
    pub(super) port: u16,
    pub(super) key: Option<AddrKey>,
}

impl<'a> Addr<'a> {
    pub fn new(ip: &'a str, port: u16) -> Addr<'a> {
        Addr { ip, port, key: AddrKey::of(ip, port) }
    }
    pub fn ip(&self) -> &'a str {
        self.ip
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn key(&self) -> Option<AddrKey> {
        self.key
    }
}
