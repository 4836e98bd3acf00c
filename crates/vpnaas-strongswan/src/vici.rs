//! The VICI wire protocol of strongSwan's charon: message and packet encoding, and an async client over a Unix socket.
//!
//! The format is strongSwan's `src/libcharon/plugins/vici/README.md`: every packet is a
//! 4-byte big-endian length and a payload; the payload is a packet type, for the named
//! types an 8-bit-length name, and (for requests, responses and events) a message, a
//! tree of sections, key/values and lists. Values are blobs; charon uses strings only.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// charon refuses segments larger than this (README: "limited to 512KB").
pub const MAX_SEGMENT: usize = 512 * 1024;

const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

/// One entry of a message section.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Str(Vec<u8>),
    Section(Message),
    List(Vec<Vec<u8>>),
}

/// A VICI message: an ordered section of named values (order matters to charon, e.g.
/// for authentication rounds, so this is a list and not a map).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub entries: Vec<(String, Value)>,
}

/// Keys whose values are secrets (`load-shared` data); `Debug` never shows them.
const SECRET_KEYS: &[&str] = &["data", "secret"];

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.entries {
            match v {
                Value::Str(_) if SECRET_KEYS.contains(&k.as_str()) => map.entry(k, &"***"),
                other => map.entry(k, other),
            };
        }
        map.finish()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Value::Section(m) => m.fmt(f),
            Value::List(items) => f.debug_list().entries(items.iter().map(|b| String::from_utf8_lossy(b))).finish(),
        }
    }
}

/// Why bytes are not a valid VICI packet or message, or a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    UnknownElement(u8),
    UnknownPacket(u8),
    Unbalanced,
    NameTooLong(usize),
    ValueTooLong(usize),
    TooLarge(usize),
    NotUtf8,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated VICI data"),
            WireError::UnknownElement(t) => write!(f, "unknown VICI message element {t}"),
            WireError::UnknownPacket(t) => write!(f, "unknown VICI packet type {t}"),
            WireError::Unbalanced => f.write_str("unbalanced VICI sections or lists"),
            WireError::NameTooLong(n) => write!(f, "VICI name of {n} bytes (at most 255)"),
            WireError::ValueTooLong(n) => write!(f, "VICI value of {n} bytes (at most 65535)"),
            WireError::TooLarge(n) => write!(f, "VICI segment of {n} bytes (at most {MAX_SEGMENT})"),
            WireError::NotUtf8 => f.write_str("VICI name is not UTF-8"),
        }
    }
}

impl std::error::Error for WireError {}

/// charon's `success = no`, in its own words: they are the only account of why it refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{errmsg}")]
pub struct Refused {
    pub errmsg: String,
}

impl Message {
    pub fn new() -> Message {
        Message::default()
    }

    /// Adds a key/value (builder style).
    pub fn kv(mut self, key: &str, value: impl Into<String>) -> Message {
        self.entries.push((key.to_owned(), Value::Str(value.into().into_bytes())));
        self
    }

    pub fn section(mut self, key: &str, section: Message) -> Message {
        self.entries.push((key.to_owned(), Value::Section(section)));
        self
    }

    pub fn list<I, S>(mut self, key: &str, items: I) -> Message
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entries.push((key.to_owned(), Value::List(items.into_iter().map(|s| s.into().into_bytes()).collect())));
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A key/value as text (lossy: charon's values are ASCII).
    pub fn str(&self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Value::Str(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn sub(&self, key: &str) -> Option<&Message> {
        match self.get(key) {
            Some(Value::Section(m)) => Some(m),
            _ => None,
        }
    }

    pub fn strings(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::List(items)) => items.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect(),
            _ => Vec::new(),
        }
    }

    /// The sub-sections, in order, with their names.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Message)> {
        self.entries.iter().filter_map(|(k, v)| match v {
            Value::Section(m) => Some((k.as_str(), m)),
            _ => None,
        })
    }

    /// `success = yes` or the `errmsg` (charon's answer to most commands).
    pub fn check_success(&self) -> Result<(), Refused> {
        if self.str("success").as_deref() == Some("yes") {
            Ok(())
        } else {
            let errmsg = self.str("errmsg").unwrap_or_else(|| "charon answered success=no without a reason".to_owned());
            Err(Refused { errmsg })
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        for (key, value) in &self.entries {
            match value {
                Value::Str(v) => {
                    out.push(KEY_VALUE);
                    put_name(out, key)?;
                    put_value(out, v)?;
                }
                Value::Section(m) => {
                    out.push(SECTION_START);
                    put_name(out, key)?;
                    m.encode_into(out)?;
                    out.push(SECTION_END);
                }
                Value::List(items) => {
                    out.push(LIST_START);
                    put_name(out, key)?;
                    for item in items {
                        out.push(LIST_ITEM);
                        put_value(out, item)?;
                    }
                    out.push(LIST_END);
                }
            }
        }
        Ok(())
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader { bytes, pos: 0 };
        // A stack of open sections: the root, then each SECTION_START.
        let mut stack: Vec<(String, Message)> = vec![(String::new(), Message::new())];
        while let Some(t) = r.byte() {
            match t {
                KEY_VALUE => {
                    let key = r.name()?;
                    let value = r.value()?.to_vec();
                    top(&mut stack)?.entries.push((key, Value::Str(value)));
                }
                SECTION_START => {
                    let key = r.name()?;
                    stack.push((key, Message::new()));
                }
                SECTION_END => {
                    if stack.len() < 2 {
                        return Err(WireError::Unbalanced);
                    }
                    let (key, done) = stack.pop().ok_or(WireError::Unbalanced)?;
                    top(&mut stack)?.entries.push((key, Value::Section(done)));
                }
                LIST_START => {
                    let key = r.name()?;
                    let mut items = Vec::new();
                    loop {
                        match r.byte().ok_or(WireError::Truncated)? {
                            LIST_ITEM => items.push(r.value()?.to_vec()),
                            LIST_END => break,
                            _ => return Err(WireError::Unbalanced),
                        }
                    }
                    top(&mut stack)?.entries.push((key, Value::List(items)));
                }
                LIST_ITEM | LIST_END => return Err(WireError::Unbalanced),
                other => return Err(WireError::UnknownElement(other)),
            }
        }
        if stack.len() != 1 {
            return Err(WireError::Unbalanced);
        }
        stack.pop().map(|(_, m)| m).ok_or(WireError::Unbalanced)
    }
}

fn top(stack: &mut [(String, Message)]) -> Result<&mut Message, WireError> {
    stack.last_mut().map(|(_, m)| m).ok_or(WireError::Unbalanced)
}

fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), WireError> {
    let len = u8::try_from(name.len()).map_err(|_| WireError::NameTooLong(name.len()))?;
    out.push(len);
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, value: &[u8]) -> Result<(), WireError> {
    let len = u16::try_from(value.len()).map_err(|_| WireError::ValueTooLong(value.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = self.bytes.get(self.pos).copied()?;
        self.pos += 1;
        Some(b)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }
    fn name(&mut self) -> Result<String, WireError> {
        let len = self.byte().ok_or(WireError::Truncated)?;
        let raw = self.take(usize::from(len))?;
        String::from_utf8(raw.to_vec()).map_err(|_| WireError::NotUtf8)
    }
    fn value(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]);
        self.take(usize::from(len))
    }
    fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        rest
    }
}

/// The eight packet types of the VICI packet layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    CmdRequest { command: String, message: Message },
    CmdResponse(Message),
    CmdUnknown,
    EventRegister(String),
    EventUnregister(String),
    EventConfirm,
    EventUnknown,
    Event { name: String, message: Message },
}

impl Packet {
    /// The payload (without the length header).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match self {
            Packet::CmdRequest { command, message } => {
                out.push(0);
                put_name(&mut out, command)?;
                message.encode_into(&mut out)?;
            }
            Packet::CmdResponse(message) => {
                out.push(1);
                message.encode_into(&mut out)?;
            }
            Packet::CmdUnknown => out.push(2),
            Packet::EventRegister(name) => {
                out.push(3);
                put_name(&mut out, name)?;
            }
            Packet::EventUnregister(name) => {
                out.push(4);
                put_name(&mut out, name)?;
            }
            Packet::EventConfirm => out.push(5),
            Packet::EventUnknown => out.push(6),
            Packet::Event { name, message } => {
                out.push(7);
                put_name(&mut out, name)?;
                message.encode_into(&mut out)?;
            }
        }
        Ok(out)
    }

    /// The payload with its 4-byte big-endian length header, ready for the socket.
    pub fn frame(&self) -> Result<Vec<u8>, WireError> {
        let payload = self.encode()?;
        if payload.len() > MAX_SEGMENT {
            return Err(WireError::TooLarge(payload.len()));
        }
        let len = u32::try_from(payload.len()).map_err(|_| WireError::TooLarge(payload.len()))?;
        let mut out = Vec::with_capacity(payload.len() + 4);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    pub fn decode(payload: &[u8]) -> Result<Packet, WireError> {
        let mut r = Reader { bytes: payload, pos: 0 };
        let t = r.byte().ok_or(WireError::Truncated)?;
        Ok(match t {
            0 => {
                let command = r.name()?;
                Packet::CmdRequest { command, message: Message::decode(r.rest())? }
            }
            1 => Packet::CmdResponse(Message::decode(r.rest())?),
            2 => Packet::CmdUnknown,
            3 => Packet::EventRegister(r.name()?),
            4 => Packet::EventUnregister(r.name()?),
            5 => Packet::EventConfirm,
            6 => Packet::EventUnknown,
            7 => {
                let name = r.name()?;
                Packet::Event { name, message: Message::decode(r.rest())? }
            }
            other => return Err(WireError::UnknownPacket(other)),
        })
    }
}

/// Why a VICI exchange failed. After any of these the connection is in an unknown state
/// and must be dropped (a late response would answer the next command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViciError {
    /// The URI is not `unix:///path`.
    BadUri(String),
    Io(String),
    Wire(WireError),
    /// charon answered CMD_UNKNOWN (an older charon, or a typo).
    UnknownCommand(String),
    /// charon answered EVENT_UNKNOWN.
    UnknownEvent(String),
    /// A packet that makes no sense at this point of the exchange.
    Unexpected(String),
    Timeout(String),
}

impl fmt::Display for ViciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViciError::BadUri(u) => write!(f, "{u:?} is not a VICI URI (unix:///path)"),
            ViciError::Io(e) => write!(f, "VICI socket: {e}"),
            ViciError::Wire(e) => write!(f, "{e}"),
            ViciError::UnknownCommand(c) => write!(f, "charon does not know the VICI command {c:?}"),
            ViciError::UnknownEvent(e) => write!(f, "charon does not know the VICI event {e:?}"),
            ViciError::Unexpected(p) => write!(f, "unexpected VICI packet: {p}"),
            ViciError::Timeout(c) => write!(f, "VICI command {c:?} timed out"),
        }
    }
}

impl std::error::Error for ViciError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ViciError::Wire(e) => Some(e),
            _ => None,
        }
    }
}

impl From<WireError> for ViciError {
    fn from(e: WireError) -> Self {
        ViciError::Wire(e)
    }
}

impl From<std::io::Error> for ViciError {
    fn from(e: std::io::Error) -> Self {
        ViciError::Io(e.to_string())
    }
}

/// The socket path of a `unix:///path` URI (the form swanctl's `--uri` takes).
pub fn socket_path(uri: &str) -> Result<&str, ViciError> {
    match uri.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(path),
        _ => Err(ViciError::BadUri(uri.to_owned())),
    }
}

/// One VICI connection. Commands run one at a time (VICI has no sequence numbers).
pub struct Client {
    stream: UnixStream,
    timeout: Duration,
}

impl Client {
    /// Connects to `unix:///path`; every later exchange fails after `timeout`.
    pub async fn connect(uri: &str, timeout: Duration) -> Result<Client, ViciError> {
        let path = socket_path(uri)?;
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| ViciError::Timeout("connect".to_owned()))??;
        Ok(Client { stream, timeout })
    }

    async fn send(&mut self, packet: &Packet) -> Result<(), ViciError> {
        let bytes = packet.frame()?;
        self.stream.write_all(&bytes).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Packet, ViciError> {
        let len = self.stream.read_u32().await? as usize;
        if len > MAX_SEGMENT {
            return Err(WireError::TooLarge(len).into());
        }
        let mut payload = vec![0; len];
        self.stream.read_exact(&mut payload).await?;
        Ok(Packet::decode(&payload)?)
    }

    /// A plain command: request, then its response.
    pub async fn request(&mut self, command: &str, message: Message) -> Result<Message, ViciError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.request_inner(command, message))
            .await
            .map_err(|_| ViciError::Timeout(command.to_owned()))?
    }

    async fn request_inner(&mut self, command: &str, message: Message) -> Result<Message, ViciError> {
        self.send(&Packet::CmdRequest { command: command.to_owned(), message }).await?;
        loop {
            match self.recv().await? {
                Packet::CmdResponse(m) => return Ok(m),
                Packet::CmdUnknown => return Err(ViciError::UnknownCommand(command.to_owned())),
                // Not registered for anything outside `streamed`; tolerate stragglers.
                Packet::Event { .. } => continue,
                other => return Err(ViciError::Unexpected(format!("{other:?} in answer to {command}"))),
            }
        }
    }

    /// A streamed command (`list-sas`, `list-conns`): registers for `event`, collects the
    /// events that arrive before the final response, then unregisters.
    pub async fn streamed(
        &mut self,
        command: &str,
        event: &str,
        message: Message,
    ) -> Result<(Vec<Message>, Message), ViciError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.streamed_inner(command, event, message))
            .await
            .map_err(|_| ViciError::Timeout(command.to_owned()))?
    }

    async fn streamed_inner(
        &mut self,
        command: &str,
        event: &str,
        message: Message,
    ) -> Result<(Vec<Message>, Message), ViciError> {
        self.send(&Packet::EventRegister(event.to_owned())).await?;
        self.confirm(event).await?;
        self.send(&Packet::CmdRequest { command: command.to_owned(), message }).await?;
        let mut events = Vec::new();
        let response = loop {
            match self.recv().await? {
                Packet::Event { name, message } if name == event => events.push(message),
                Packet::Event { .. } => continue,
                Packet::CmdResponse(m) => break m,
                Packet::CmdUnknown => return Err(ViciError::UnknownCommand(command.to_owned())),
                other => return Err(ViciError::Unexpected(format!("{other:?} during {command}"))),
            }
        };
        self.send(&Packet::EventUnregister(event.to_owned())).await?;
        self.confirm(event).await?;
        Ok((events, response))
    }

    /// Registers for each of `events` (e.g. `ike-updown`, `child-updown`, `log`); from then on
    /// the connection is for [`Client::next_event`] only.
    pub async fn subscribe(&mut self, events: &[&str]) -> Result<(), ViciError> {
        let timeout = self.timeout;
        for event in events {
            let registered = async {
                self.send(&Packet::EventRegister((*event).to_owned())).await?;
                self.confirm(event).await
            };
            tokio::time::timeout(timeout, registered).await.map_err(|_| ViciError::Timeout((*event).to_owned()))??;
        }
        Ok(())
    }

    /// The next event of a subscribed connection, waiting as long as it takes.
    pub async fn next_event(&mut self) -> Result<(String, Message), ViciError> {
        loop {
            match self.recv().await? {
                Packet::Event { name, message } => return Ok((name, message)),
                Packet::EventConfirm => continue,
                other => return Err(ViciError::Unexpected(format!("{other:?} while waiting for events"))),
            }
        }
    }

    async fn confirm(&mut self, event: &str) -> Result<(), ViciError> {
        loop {
            match self.recv().await? {
                Packet::EventConfirm => return Ok(()),
                Packet::EventUnknown => return Err(ViciError::UnknownEvent(event.to_owned())),
                Packet::Event { .. } => continue,
                other => return Err(ViciError::Unexpected(format!("{other:?} while (un)registering {event}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding example of strongSwan's vici README, byte for byte.
    const README_EXAMPLE: &[u8] = &[
        3, 4, b'k', b'e', b'y', b'1', 0, 6, b'v', b'a', b'l', b'u', b'e', b'1', //
        1, 8, b's', b'e', b'c', b't', b'i', b'o', b'n', b'1', //
        1, 11, b's', b'u', b'b', b'-', b's', b'e', b'c', b't', b'i', b'o', b'n', //
        3, 4, b'k', b'e', b'y', b'2', 0, 6, b'v', b'a', b'l', b'u', b'e', b'2', //
        2,    //
        4, 5, b'l', b'i', b's', b't', b'1', //
        5, 0, 5, b'i', b't', b'e', b'm', b'1', //
        5, 0, 5, b'i', b't', b'e', b'm', b'2', //
        6,    //
        2,
    ];

    fn readme_message() -> Message {
        Message::new().kv("key1", "value1").section(
            "section1",
            Message::new()
                .section("sub-section", Message::new().kv("key2", "value2"))
                .list("list1", ["item1", "item2"]),
        )
    }

    #[test]
    fn the_readme_example_encodes_to_its_bytes() {
        assert_eq!(readme_message().encode().unwrap(), README_EXAMPLE);
    }

    #[test]
    fn the_readme_example_decodes_to_its_tree() {
        let m = Message::decode(README_EXAMPLE).unwrap();
        assert_eq!(m, readme_message());
        assert_eq!(m.str("key1").as_deref(), Some("value1"));
        let s = m.sub("section1").unwrap();
        assert_eq!(s.sub("sub-section").and_then(|x| x.str("key2")).as_deref(), Some("value2"));
        assert_eq!(s.strings("list1"), vec!["item1", "item2"]);
    }

    #[test]
    fn a_command_request_is_framed_with_type_name_and_message() {
        let p = Packet::CmdRequest { command: "version".into(), message: Message::new() };
        assert_eq!(p.frame().unwrap(), vec![0, 0, 0, 9, 0, 7, b'v', b'e', b'r', b's', b'i', b'o', b'n']);
        let p = Packet::CmdRequest { command: "unload-conn".into(), message: Message::new().kv("name", "c") };
        let mut expected = vec![0, 0, 0, 22, 0, 11];
        expected.extend_from_slice(b"unload-conn");
        expected.extend_from_slice(&[3, 4, b'n', b'a', b'm', b'e', 0, 1, b'c']);
        assert_eq!(p.frame().unwrap(), expected);
    }

    #[test]
    fn every_packet_type_round_trips() {
        let m = Message::new().kv("success", "yes");
        let packets = [
            Packet::CmdRequest { command: "list-sas".into(), message: m.clone() },
            Packet::CmdResponse(m.clone()),
            Packet::CmdUnknown,
            Packet::EventRegister("list-sa".into()),
            Packet::EventUnregister("list-sa".into()),
            Packet::EventConfirm,
            Packet::EventUnknown,
            Packet::Event { name: "list-sa".into(), message: m },
        ];
        for (t, p) in packets.iter().enumerate() {
            let bytes = p.encode().unwrap();
            assert_eq!(usize::from(bytes[0]), t, "{p:?}");
            assert_eq!(&Packet::decode(&bytes).unwrap(), p);
        }
        assert_eq!(Packet::encode(&Packet::EventConfirm).unwrap(), vec![5]);
        assert_eq!(Packet::decode(&[3, 7, b'l', b'i', b's', b't', b'-', b's', b'a']).unwrap(), packets[3]);
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert_eq!(Message::decode(&[3, 4, b'k']), Err(WireError::Truncated));
        assert_eq!(Message::decode(&[1, 1, b's']), Err(WireError::Unbalanced));
        assert_eq!(Message::decode(&[2]), Err(WireError::Unbalanced));
        assert_eq!(Message::decode(&[4, 1, b'l', 3]), Err(WireError::Unbalanced));
        assert_eq!(Message::decode(&[5, 0, 0]), Err(WireError::Unbalanced));
        assert_eq!(Message::decode(&[9]), Err(WireError::UnknownElement(9)));
        assert_eq!(Packet::decode(&[8]), Err(WireError::UnknownPacket(8)));
        assert_eq!(Packet::decode(&[]), Err(WireError::Truncated));
        assert_eq!(Message::decode(&[]), Ok(Message::new()));
    }

    #[test]
    fn oversized_names_and_values_are_refused() {
        let long = "x".repeat(256);
        assert_eq!(Message::new().kv(&long, "v").encode(), Err(WireError::NameTooLong(256)));
        let huge = "x".repeat(70_000);
        assert_eq!(Message::new().kv("k", huge).encode(), Err(WireError::ValueTooLong(70_000)));
    }

    #[test]
    fn debug_never_shows_a_shared_secret() {
        let m = Message::new().kv("type", "IKE").kv("data", "hunter2").list("owners", ["a"]);
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("IKE"), "{shown}");
    }

    #[test]
    fn only_unix_uris_name_a_socket() {
        assert_eq!(socket_path("unix:///run/charon.vici"), Ok("/run/charon.vici"));
        assert!(socket_path("tcp://127.0.0.1:4502").is_err());
        assert!(socket_path("unix://relative").is_err());
    }

    #[test]
    fn success_and_errmsg_are_read_from_answers() {
        assert_eq!(Message::new().kv("success", "yes").check_success(), Ok(()));
        let no = Message::new().kv("success", "no").kv("errmsg", "invalid value for: esp_proposals");
        assert_eq!(no.check_success(), Err(Refused { errmsg: "invalid value for: esp_proposals".to_owned() }));
    }

    /// A fake charon on a socket pair: a streamed command sees its events, then the response.
    #[tokio::test]
    async fn a_streamed_command_collects_events_until_the_response() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.vici");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for _ in 0..3 {
                let len = s.read_u32().await.unwrap() as usize;
                let mut buf = vec![0; len];
                s.read_exact(&mut buf).await.unwrap();
                let p = Packet::decode(&buf).unwrap();
                let answer: Vec<Packet> = match &p {
                    Packet::EventRegister(_) | Packet::EventUnregister(_) => vec![Packet::EventConfirm],
                    Packet::CmdRequest { .. } => vec![
                        Packet::Event { name: "list-sa".into(), message: Message::new().kv("n", "1") },
                        Packet::Event { name: "log".into(), message: Message::new() },
                        Packet::Event { name: "list-sa".into(), message: Message::new().kv("n", "2") },
                        Packet::CmdResponse(Message::new()),
                    ],
                    _ => vec![],
                };
                seen.push(p);
                for a in answer {
                    s.write_all(&a.frame().unwrap()).await.unwrap();
                }
            }
            seen
        });
        let uri = format!("unix://{}", path.display());
        let mut client = Client::connect(&uri, Duration::from_secs(5)).await.unwrap();
        let (events, response) = client.streamed("list-sas", "list-sa", Message::new()).await.unwrap();
        assert_eq!(events.iter().filter_map(|e| e.str("n")).collect::<Vec<_>>(), vec!["1", "2"]);
        assert_eq!(response, Message::new());
        let seen = server.await.unwrap();
        assert_eq!(seen[0], Packet::EventRegister("list-sa".into()));
        assert!(matches!(&seen[1], Packet::CmdRequest { command, .. } if command == "list-sas"));
        assert_eq!(seen[2], Packet::EventUnregister("list-sa".into()));
    }
}
