//! The closed value sets of the API (algorithms, modes, actions), each an enum with its exact wire strings.
//!
//! Value lists follow neutron-lib `api/definitions/vpn.py` with the `vpn-aes-ctr` extension
//! (ADR 0009 §1.2). We keep the legacy `sha1` and `3des` values and `sha1` as the default
//! auth algorithm, as the API definition (and every client's documentation) still has them;
//! see docs/adr/0001-api-decisions.md.

use crate::fault::Fault;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every wire value, in the reference's order.
            pub const ALL: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses a wire value; the error names `attr` and lists the valid values,
            /// as neutron-lib's `validate_values` does.
            pub fn parse(attr: &str, value: &str) -> Result<Self, Fault> {
                match value {
                    $($wire => Ok($name::$variant),)+
                    other => Err(Fault::invalid(attr, format!(
                        "'{}' is not in [{}]",
                        other,
                        Self::ALL.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
        }

        impl crate::descriptor::Plain for $name {
            fn scalar(&self) -> crate::descriptor::Scalar<'_> {
                crate::descriptor::Scalar::Str(self.as_str())
            }
            fn read(
                row: &dyn crate::descriptor::Columns,
                column: &'static str,
            ) -> Result<Self, crate::descriptor::Unreadable> {
                Self::parse(column, &row.text(column)?).map_err(|e| crate::descriptor::Unreadable::new(column, e))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(stringify!($name), &text).map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Integrity algorithm of IKE and IPsec policies.
    AuthAlgorithm {
        Sha1 => "sha1", Sha256 => "sha256", Sha384 => "sha384", Sha512 => "sha512",
        AesXcbc => "aes-xcbc", AesCmac => "aes-cmac",
    }
);

wire_enum!(
    /// Encryption algorithm of IKE and IPsec policies (with `vpn-aes-ctr`).
    EncryptionAlgorithm {
        TripleDes => "3des", Aes128 => "aes-128", Aes192 => "aes-192", Aes256 => "aes-256",
        Aes128Ctr => "aes-128-ctr", Aes192Ctr => "aes-192-ctr", Aes256Ctr => "aes-256-ctr",
        Aes128Ccm8 => "aes-128-ccm-8", Aes128Ccm12 => "aes-128-ccm-12", Aes128Ccm16 => "aes-128-ccm-16",
        Aes192Ccm8 => "aes-192-ccm-8", Aes192Ccm12 => "aes-192-ccm-12", Aes192Ccm16 => "aes-192-ccm-16",
        Aes256Ccm8 => "aes-256-ccm-8", Aes256Ccm12 => "aes-256-ccm-12", Aes256Ccm16 => "aes-256-ccm-16",
        Aes128Gcm8 => "aes-128-gcm-8", Aes128Gcm12 => "aes-128-gcm-12", Aes128Gcm16 => "aes-128-gcm-16",
        Aes192Gcm8 => "aes-192-gcm-8", Aes192Gcm12 => "aes-192-gcm-12", Aes192Gcm16 => "aes-192-gcm-16",
        Aes256Gcm8 => "aes-256-gcm-8", Aes256Gcm12 => "aes-256-gcm-12", Aes256Gcm16 => "aes-256-gcm-16",
    }
);

wire_enum!(
    /// IKE phase 1 mode.
    Phase1Mode { Main => "main", Aggressive => "aggressive" }
);

wire_enum!(
    /// IKE protocol version.
    IkeVersion { V1 => "v1", V2 => "v2" }
);

wire_enum!(
    /// Perfect forward secrecy Diffie-Hellman group.
    Pfs {
        Group2 => "group2", Group5 => "group5", Group14 => "group14", Group15 => "group15",
        Group16 => "group16", Group17 => "group17", Group18 => "group18", Group19 => "group19",
        Group20 => "group20", Group21 => "group21", Group22 => "group22", Group23 => "group23",
        Group24 => "group24", Group25 => "group25", Group26 => "group26", Group27 => "group27",
        Group28 => "group28", Group29 => "group29", Group30 => "group30", Group31 => "group31",
    }
);

wire_enum!(
    /// IPsec transform protocol.
    TransformProtocol { Esp => "esp", Ah => "ah", AhEsp => "ah-esp" }
);

wire_enum!(
    /// IPsec encapsulation mode.
    EncapsulationMode { Tunnel => "tunnel", Transport => "transport" }
);

wire_enum!(
    /// Lifetime units; the API accepts seconds only (the reference's DB also knows kilobytes).
    LifetimeUnits { Seconds => "seconds" }
);

wire_enum!(
    /// Dead peer detection action.
    DpdAction {
        Clear => "clear", Disabled => "disabled", Hold => "hold", Restart => "restart",
        RestartByPeer => "restart-by-peer",
    }
);

wire_enum!(
    /// Whether the gateway initiates.
    Initiator { BiDirectional => "bi-directional", ResponseOnly => "response-only" }
);

wire_enum!(
    /// Endpoint group type.
    EndpointType {
        Cidr => "cidr", Network => "network", Router => "router", Subnet => "subnet", Vlan => "vlan",
    }
);

wire_enum!(
    /// Status of a VPN service or site connection.
    Status {
        Active => "ACTIVE", Down => "DOWN", Build => "BUILD", Error => "ERROR",
        PendingCreate => "PENDING_CREATE", PendingUpdate => "PENDING_UPDATE",
        PendingDelete => "PENDING_DELETE",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_wire_value() {
        for v in EncryptionAlgorithm::ALL {
            assert_eq!(EncryptionAlgorithm::parse("e", v).map(|e| e.as_str()), Ok(*v));
        }
        for v in Pfs::ALL {
            assert_eq!(Pfs::parse("pfs", v).map(|e| e.as_str()), Ok(*v));
        }
    }

    #[test]
    fn parse_rejects_unknown_value_naming_attribute_and_choices() {
        let err = AuthAlgorithm::parse("auth_algorithm", "md5").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("Invalid input for auth_algorithm. Reason: 'md5' is not in ['sha1'"), "{msg}");
    }
}
