//! Pure rendering of a desired connection as swanctl.conf(5) text: what `render` sends charon
//! over VICI, written as the file an administrator would load with `swanctl --load-all`.
//!
//! The text is made from the rendered VICI messages themselves, so both forms always carry
//! the same options: `load-conn`'s argument is the `connections` section (swanctl.conf's
//! option names are the ones `load-conn` takes), and `load-shared`'s the `secrets` section.
//! A rendering that cannot be done over VICI cannot be done as text either (same error).

use std::fmt::Write as _;

use vpnaas_core::contract::DesiredConnection;

use crate::render::{render, RenderError, Rendered};
use crate::vici::{Message, Value};

const INDENT: &str = "    ";

/// `DesiredConnection` → swanctl.conf text with a `connections` and a `secrets` section.
///
/// The pre-shared key is written in hexadecimal (`0x...`), which swanctl reads as the same
/// bytes: a key that itself starts with `0x` or `0s` would otherwise be decoded as hex or
/// Base64, and no key needs quoting. The secret's section is `ike-<connection id>`, so
/// swanctl names it that (the agent names its VICI secret by the connection id alone).
pub fn swanctl_conf(c: &DesiredConnection) -> Result<String, RenderError> {
    Ok(conf_of(&render(c)?))
}

/// The text of an existing rendering.
pub fn conf_of(r: &Rendered) -> String {
    let mut out = format!("# IPsec site connection {}, rendered by vpnaas (swanctl.conf(5))\n", r.id);
    out.push_str("connections {\n");
    if r.eager {
        // No agent starts it here: charon does (`Rendered::eager`).
        write_section(&mut out, 1, &started(&r.conn));
    } else {
        write_section(&mut out, 1, &r.conn);
    }
    out.push_str("}\n\nsecrets {\n");
    let kind = r.secret.str("type").unwrap_or_else(|| "IKE".to_owned()).to_ascii_lowercase();
    let _ = writeln!(out, "{INDENT}{kind}-{} {{", r.name);
    for (n, owner) in r.secret.strings("owners").iter().enumerate() {
        let _ = writeln!(out, "{INDENT}{INDENT}id-{} = {}", n + 1, value(owner));
    }
    if let Some(Value::Str(data)) = r.secret.get("data") {
        let _ = writeln!(out, "{INDENT}{INDENT}secret = 0x{}", hex(data));
    }
    let _ = writeln!(out, "{INDENT}}}");
    out.push_str("}\n");
    out
}

/// The `load-conn` message with `start_action = start` in each child.
fn started(conn: &Message) -> Message {
    let mut conn = conn.clone();
    for (_, ike) in &mut conn.entries {
        let Value::Section(ike) = ike else { continue };
        for (key, children) in &mut ike.entries {
            let Value::Section(children) = children else { continue };
            if key != "children" {
                continue;
            }
            for (_, child) in &mut children.entries {
                if let Value::Section(child) = child {
                    child.entries.push(("start_action".to_owned(), Value::Str(b"start".to_vec())));
                }
            }
        }
    }
    conn
}

/// A message's entries at `depth`: key/values, lists (comma-separated, as swanctl splits
/// them) and subsections, in the message's order.
pub(crate) fn write_section(out: &mut String, depth: usize, m: &Message) {
    let indent = INDENT.repeat(depth);
    for (key, v) in &m.entries {
        match v {
            Value::Str(bytes) => {
                let _ = writeln!(out, "{indent}{key} = {}", value(&String::from_utf8_lossy(bytes)));
            }
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
                let _ = writeln!(out, "{indent}{key} = {}", list(&items));
            }
            Value::Section(sub) => {
                let _ = writeln!(out, "{indent}{key} {{");
                write_section(out, depth + 1, sub);
                let _ = writeln!(out, "{indent}}}");
            }
        }
    }
}

/// A value as it is, when it consists only of characters that need no quoting (addresses,
/// CIDRs, host names, proposals, `@fqdn` identities, durations); else in double quotes with
/// `\` and `"` escaped (an identity such as a distinguished name has spaces and commas).
pub(crate) fn value(text: &str) -> String {
    if is_plain(text) {
        return text.to_owned();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A list as swanctl reads one: its items separated by commas, unquoted when every item
/// may be (the usual `local_ts = 10.1.0.0/24, 10.1.1.0/24`), else quoted as one value.
fn list(items: &[String]) -> String {
    let joined = items.join(", ");
    if items.iter().all(|i| is_plain(i)) {
        joined
    } else {
        value(&joined)
    }
}

fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | ':' | '@' | '-' | '_' | '%' | '+'))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpnaas_core::algorithms::{
        AuthAlgorithm, DpdAction, EncryptionAlgorithm, IkeVersion, Initiator, Pfs, TransformProtocol,
    };
    use vpnaas_core::values::{Cidr, Dpd, PeerAddress, Psk};

    use crate::render::tests::desired;

    /// The `key = value` lines of swanctl.conf text by their dotted path, values unquoted.
    fn parse(text: &str) -> Vec<(String, String)> {
        let mut path: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if let Some(name) = line.strip_suffix(" {") {
                path.push(name.to_owned());
            } else if line == "}" {
                path.pop().unwrap();
            } else {
                let (key, v) = line.split_once(" = ").unwrap();
                let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
                    None => v.to_owned(),
                };
                out.push((format!("{}.{key}", path.join(".")), v));
            }
        }
        assert!(path.is_empty(), "unbalanced sections");
        out
    }

    /// The same walk over a VICI message: lists joined as swanctl joins them.
    fn flatten(prefix: &str, m: &Message, out: &mut Vec<(String, String)>) {
        for (key, v) in &m.entries {
            let path = format!("{prefix}.{key}");
            match v {
                Value::Str(b) => out.push((path, String::from_utf8_lossy(b).into_owned())),
                Value::List(items) => out.push((
                    path,
                    items.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>().join(", "),
                )),
                Value::Section(sub) => flatten(&path, sub, out),
            }
        }
    }

    #[test]
    fn the_defaults_read_like_a_hand_written_swanctl_conf() {
        let text = swanctl_conf(&desired()).unwrap();
        let expected = "\
# IPsec site connection 6c27e2e7-e6bd-48cb-8980-187b496b4ec4, rendered by vpnaas (swanctl.conf(5))
connections {
    6c27e2e7-e6bd-48cb-8980-187b496b4ec4 {
        version = 1
        local_addrs = 192.0.2.1
        remote_addrs = 192.0.2.2
        proposals = aes128-sha1-modp1536
        reauth_time = 3240s
        over_time = 360s
        dpd_delay = 30s
        dpd_timeout = 120s
        keyingtries = 0
        local {
            auth = psk
            id = 192.0.2.1
        }
        remote {
            auth = psk
            id = 192.0.2.2
        }
        children {
            6c27e2e7-e6bd-48cb-8980-187b496b4ec4 {
                local_ts = 10.1.0.0/24
                remote_ts = 10.2.0.0/24
                mode = tunnel
                esp_proposals = aes128-sha1-modp1536
                rekey_time = 3240s
                life_time = 3600s
                dpd_action = restart
                start_action = start
            }
        }
    }
}

secrets {
    ike-6c27e2e7-e6bd-48cb-8980-187b496b4ec4 {
        id-1 = 192.0.2.1
        id-2 = 192.0.2.2
        secret = 0x7333637265742d70736b
    }
}
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_text_carries_exactly_the_options_of_the_vici_message() {
        type Change = fn(&mut DesiredConnection);
        let cases: [Change; 6] = [
            |_| {},
            |c| {
                c.ike.ike_version = IkeVersion::V2;
                c.ike.encryption_algorithm = EncryptionAlgorithm::Aes256Gcm16;
                c.ike.pfs = Pfs::Group19;
                c.ike.lifetime_secs = 28800;
                c.ipsec.lifetime_secs = 600;
                c.local_cidrs.push(Cidr::parse("10.1.1.0/24").unwrap());
                c.peer_cidrs.push(Cidr::parse("2001:db8::/64").unwrap());
            },
            |c| {
                c.local_cidrs.push(Cidr::parse("10.1.1.0/24").unwrap());
                c.peer_cidrs.push(Cidr::parse("10.3.0.0/16").unwrap());
            },
            |c| {
                c.ipsec.transform_protocol = TransformProtocol::Ah;
                c.ipsec.auth_algorithm = AuthAlgorithm::Sha512;
                c.dpd = Dpd { action: DpdAction::Disabled, interval: 10, timeout: 40 };
            },
            |c| {
                c.initiator = Initiator::ResponseOnly;
                c.peer_address = PeerAddress::parse("vpn.example.com").unwrap();
                c.peer_id = "@vpn.example.com".into();
            },
            |c| {
                c.local_id = "C=CH, O=Example \"Site\", CN=gw\\1".into();
                c.ike.ike_version = IkeVersion::V2;
            },
        ];
        for change in cases {
            let mut c = desired();
            change(&mut c);
            let r = render(&c).unwrap();
            let mut vici = Vec::new();
            // The text adds what the agent does itself: start the eager side.
            flatten("connections", &if r.eager { started(&r.conn) } else { r.conn.clone() }, &mut vici);
            assert_eq!(text_starts(&conf_of(&r)), r.eager);
            let text = conf_of(&r);
            let parsed = parse(&text);
            let (conns, secrets): (Vec<_>, Vec<_>) =
                parsed.into_iter().partition(|(p, _)| p.starts_with("connections."));
            assert_eq!(conns, vici, "{text}");
            let section = format!("secrets.ike-{}", r.name);
            let owners = r.secret.strings("owners");
            assert_eq!(
                secrets,
                vec![
                    (format!("{section}.id-1"), owners[0].clone()),
                    (format!("{section}.id-2"), owners[1].clone()),
                    (
                        format!("{section}.secret"),
                        format!("0x{}", hex(c.psk.as_ref().map_or("", |p| p.expose()).as_bytes()))
                    ),
                ]
            );
        }
    }

    fn text_starts(text: &str) -> bool {
        text.contains("start_action = start")
    }

    #[test]
    fn the_text_names_proposals_addresses_identities_selectors_dpd_and_lifetimes() {
        let mut c = desired();
        c.ike.ike_version = IkeVersion::V2;
        c.ike.auth_algorithm = AuthAlgorithm::Sha256;
        c.ike.encryption_algorithm = EncryptionAlgorithm::Aes256;
        c.ike.pfs = Pfs::Group14;
        c.ike.lifetime_secs = 28800;
        c.ipsec.lifetime_secs = 1200;
        c.dpd = Dpd { action: DpdAction::Restart, interval: 5, timeout: 20 };
        c.peer_id = "@peer.example.org".into();
        let text = swanctl_conf(&c).unwrap();
        for line in [
            "proposals = aes256-sha256-modp2048",
            "esp_proposals = aes128-sha1-modp1536",
            "local_addrs = 192.0.2.1",
            "remote_addrs = 192.0.2.2",
            "id = 192.0.2.1",
            "id = @peer.example.org",
            "local_ts = 10.1.0.0/24",
            "remote_ts = 10.2.0.0/24",
            "dpd_delay = 5s",
            "dpd_action = restart",
            "rekey_time = 25920s",
            "over_time = 2880s",
            "rekey_time = 1080s",
            "life_time = 1200s",
            "version = 2",
            "id-1 = 192.0.2.1",
            "id-2 = @peer.example.org",
        ] {
            assert!(text.lines().any(|l| l.trim() == line), "{line:?} missing in\n{text}");
        }
    }

    #[test]
    fn values_are_quoted_when_they_must_be_and_keys_are_hex() {
        assert_eq!(value("10.1.0.0/24"), "10.1.0.0/24");
        assert_eq!(value("2001:db8::/64"), "2001:db8::/64");
        assert_eq!(value("@vpn.example.com"), "@vpn.example.com");
        assert_eq!(list(&["10.1.0.0/24".into(), "2001:db8::/64".into()]), "10.1.0.0/24, 2001:db8::/64");
        assert_eq!(list(&["a b".into(), "c".into()]), "\"a b, c\"");
        assert_eq!(value("CN=a \"b\" \\c"), r#""CN=a \"b\" \\c""#);
        assert_eq!(value("a#b"), "\"a#b\"");
        assert_eq!(value(""), "\"\"");
        let mut c = desired();
        c.psk = Some(Psk::parse("0xdeadbeef").unwrap());
        let text = swanctl_conf(&c).unwrap();
        assert!(text.contains("secret = 0x30786465616462656566\n"), "{text}");
        assert!(!text.contains("deadbeef"), "the key is never written as text");
    }

    #[test]
    fn what_cannot_be_rendered_over_vici_cannot_be_written_either() {
        let mut c = desired();
        c.ipsec.transform_protocol = TransformProtocol::AhEsp;
        assert_eq!(swanctl_conf(&c).unwrap_err(), render(&c).unwrap_err());
    }
}
