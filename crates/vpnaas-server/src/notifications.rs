//! Notifications as Neutron sends them through oslo.messaging (ADR 0043): the 2.0 envelope,
//! the `<resource>.<action>.start|end` events of API writes and their payloads (never a
//! secret), the broker address in oslo.messaging's `transport_url` syntax, and the notes a
//! write carries into its transaction's outbox.

use std::any::Any;
use std::fmt;

use serde_json::{json, Value};

use crate::clock::now_micros;
use vpnaas_core::wire;

/// Where notifications go and as whom they are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// `network.<host>`, as Neutron's notifier names itself.
    pub publisher_id: String,
    /// The exchange (oslo.messaging's `control_exchange`; Neutron's is `neutron`).
    pub exchange: String,
    /// The topic: notifications go to the queue and routing key `<topic>.info`.
    pub topic: String,
    /// Exchange and queue durability (`amqp_durable_queues`; oslo.messaging's default: no).
    pub durable: bool,
    /// The topic of audit events, when they go to the broker (`audit_topic`).
    pub audit_topic: Option<String>,
}

/// What an API write does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// Renders a stored item as the JSON object of its API view without secrets, if it is of the
/// type the notes were made for.
pub type Render = Box<dyn Fn(&dyn Any) -> Option<Vec<u8>> + Send + Sync>;

/// What an API write will publish, made by its handler before the service runs it: the event's
/// resource and action, the `.start` payload from the request, how to render the `.end`
/// payload, and the request's context.
pub struct Notes {
    pub resource: &'static str,
    pub action: Action,
    /// The `.start` payload, as JSON without secrets: the request body (create), the body and
    /// `id` (update), or `{"<resource>_id": id}` (delete).
    pub start: String,
    /// The id the write names (update and delete).
    pub id: Option<String>,
    pub render: Render,
    pub context: Context,
}

impl fmt::Debug for Notes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notes").field("resource", &self.resource).field("action", &self.action).finish()
    }
}

/// One row of the outbox (ADR 0047): the messages of one write, or one event, published
/// together and removed together once the broker confirmed every one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The row's key: a version 7 UUID, so that rows are written in time order at the end of
    /// the key's index (a random key would dirty a random page of it at every write).
    pub id: String,
    pub created_at: i64,
    /// How many messages it holds, for the backlog on `/metrics`.
    pub messages: i64,
    /// [`Form::Batch`]: the messages' shared `_context_*` members on the first line, then one
    /// line per message with the rest of it; the envelope is written when it is published.
    pub body: String,
    /// The routing key its messages go with when not the notifications' own (audit events).
    pub routing_key: Option<String>,
    pub form: Form,
}

/// How an outbox row holds its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// This release's rows: one write's messages, their envelope written at publish time.
    Batch,
    /// The previous release's rows (its own table): one message, whole, in its envelope; its
    /// key is the message's id. Relayed as they are until that table is contracted away.
    Envelope,
}

/// One message as it goes to the broker: its id (consumers deduplicate on it) and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    pub body: String,
}

/// The start of every message's inner text, before its id.
const HEAD: &str = "{\"message_id\": \"";

impl Outgoing {
    /// A row of `heads` (each made by [`head`]) sharing `context`.
    pub fn batch(heads: &[String], context: &Context, routing_key: Option<String>) -> Outgoing {
        let mut body = String::with_capacity(context.0.len() + heads.iter().map(|h| h.len() + 1).sum::<usize>());
        body.push_str(&context.0);
        for h in heads {
            body.push('\n');
            body.push_str(h);
        }
        Outgoing {
            id: uuid::Uuid::now_v7().to_string(),
            created_at: now_micros(),
            messages: i64::try_from(heads.len()).unwrap_or(i64::MAX),
            body,
            routing_key,
            form: Form::Batch,
        }
    }

    /// The messages as they go to the broker, in the order they were written; `None` when
    /// the row does not split into messages (it can never be published).
    pub fn unpack(&self) -> Option<Vec<Message>> {
        if self.form == Form::Envelope {
            return Some(vec![Message { message_id: self.id.clone(), body: self.body.clone() }]);
        }
        // JSON text written by serde or by the views never holds a raw line break (one in a
        // string is escaped), so lines split the row exactly.
        let mut lines = self.body.split('\n');
        let context = lines.next()?;
        lines
            .map(|head| {
                let message_id = head.strip_prefix(HEAD)?.get(..36)?.to_owned();
                let mut inner = String::with_capacity(head.len() + context.len() + 1);
                inner.push_str(head);
                inner.push_str(context);
                inner.push('}');
                let mut body = String::with_capacity(inner.len() + inner.len() / 4 + 48);
                body.push_str("{\"oslo.version\": \"2.0\", \"oslo.message\": ");
                body.push_str(&json_text(inner.as_str()));
                body.push('}');
                Some(Message { message_id, body })
            })
            .collect()
    }
}

/// Attribute names that hold secrets: never in a payload, whatever the view or the request had.
pub const SECRETS: [&str; 3] = [wire::PSK, wire::PRIVATE_KEY, "auth_token"];

/// `value` without any secret attribute, at any depth.
pub fn without_secrets(mut value: Value) -> Value {
    strip(&mut value);
    value
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for secret in SECRETS {
                map.remove(secret);
            }
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// oslo.utils' `str(utcnow())`: `2026-12-07 13:56:02.548841`, the fraction left out when 0.
pub fn oslo_time(micros: i64) -> String {
    let text = crate::clock::space_micros(micros);
    match text.strip_suffix(".000000") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

/// Who made a request, for its notifications' context.
pub struct Requester<'a> {
    pub project: &'a str,
    pub user: Option<&'a str>,
    pub roles: &'a [String],
    pub is_admin: bool,
    pub request_id: &'a str,
}

/// The `_context_*` keys of a request's messages, written once as the JSON members they end
/// the message with (each preceded by `, `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context(String);

/// The request context as oslo.messaging sends Neutron's (a redacted copy: no token): oslo.context's
/// keys and the ones neutron-lib's context adds (`tenant_id`, `tenant_name`), which Ceilometer's
/// stock event definitions read the project from.
pub fn context(who: &Requester<'_>, now: i64) -> Context {
    let (project, user, request_id) = (who.project, who.user, who.request_id);
    let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let identity = format!("{} {} - - -", dash(user), dash(Some(project)));
    let keys: [(&str, Value); 25] = [
        ("user", json!(user)),
        ("project_id", json!(project)),
        ("system_scope", Value::Null),
        ("project", json!(project)),
        ("domain", Value::Null),
        ("user_domain", Value::Null),
        ("project_domain", Value::Null),
        ("is_admin", json!(who.is_admin)),
        ("read_only", json!(false)),
        ("show_deleted", json!(false)),
        ("auth_token", Value::Null),
        ("request_id", json!(request_id)),
        ("global_request_id", Value::Null),
        ("resource_uuid", Value::Null),
        ("roles", json!(who.roles)),
        ("user_identity", json!(identity)),
        ("is_admin_project", json!(true)),
        ("user_id", json!(user)),
        ("timestamp", json!(oslo_time(now))),
        ("project_name", Value::Null),
        ("user_name", Value::Null),
        ("has_global_access", json!(false)),
        ("can_set_project_id", json!(who.is_admin)),
        ("tenant_id", json!(project)),
        ("tenant_name", Value::Null),
    ];
    let mut out = String::with_capacity(1024);
    for (k, v) in keys {
        out.push_str(", \"_context_");
        out.push_str(k);
        out.push_str("\": ");
        out.push_str(&json_text(&v));
    }
    Context(out)
}

impl Notes {
    /// The outbox row of this write's `.start` and `.end` messages, `item` being what it
    /// created, changed or (for a delete) what was there before.
    pub fn messages(&self, item: &dyn Any, publisher: &Publisher) -> Vec<Outgoing> {
        let Some(view) = (self.render)(item) else { return Vec::new() };
        let view = String::from_utf8_lossy(&view);
        let mut end = String::with_capacity(view.len() + 64);
        end.push_str("{\"");
        end.push_str(self.resource);
        end.push_str("\": ");
        end.push_str(&view);
        if let (Action::Delete, Some(id)) = (self.action, &self.id) {
            end.push_str(", \"");
            end.push_str(self.resource);
            end.push_str("_id\": ");
            end.push_str(&json_text(id));
        }
        end.push('}');
        let now = now_micros();
        let heads: Vec<String> = [("start", self.start.as_str()), ("end", end.as_str())]
            .into_iter()
            .map(|(phase, payload)| {
                let event_type = format!("{}.{}.{phase}", self.resource, self.action.name());
                head(publisher, &event_type, payload, now)
            })
            .collect();
        vec![Outgoing::batch(&heads, &self.context, None)]
    }
}

/// A message of oslo.messaging's 2.0 envelope up to its `_context_*` members: its inner text
/// in oslo.messaging's order and with Python's separators (`json.dumps`: `", "` and `": "`
/// between the message's items), so that it reads as Neutron's does byte for byte in its
/// layout; the payload keeps its compact form. [`Outgoing::unpack`] ends it with the context
/// and wraps it, when it is published.
pub fn head(publisher: &Publisher, event_type: &str, payload: &str, now: i64) -> String {
    let id = uuid::Uuid::new_v4();
    let mut inner = String::with_capacity(payload.len() + 256);
    inner.push_str(HEAD);
    inner.push_str(&id.to_string());
    inner.push_str("\", \"publisher_id\": ");
    inner.push_str(&json_text(&publisher.publisher_id));
    inner.push_str(", \"event_type\": ");
    inner.push_str(&json_text(event_type));
    inner.push_str(", \"priority\": \"INFO\", \"payload\": ");
    inner.push_str(payload);
    inner.push_str(", \"timestamp\": \"");
    inner.push_str(&oslo_time(now));
    inner.push_str("\", \"_unique_id\": \"");
    // oslo.messaging's listener drops a repeat of a `_unique_id` it saw: derived from the
    // message id, a message published again after a lost confirm is one of those.
    inner.push_str(&id.simple().to_string());
    inner.push('"');
    inner
}

/// `value` as JSON text, written straight into a buffer (`Value`'s `Display` goes through a
/// formatter adapter and is several times slower on a long string full of escapes).
fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The event type of a connection's change of status, which Neutron does not publish
/// (ADR 0043): one message per change, naming the old and the new status and why.
pub const STATUS_EVENT: &str = "ipsec_site_connection.status.update";

/// A change of a connection's status reported by its gateway.
pub struct StatusChange<'a> {
    pub id: &'a str,
    pub project: &'a str,
    pub previous: &'a str,
    pub status: &'a str,
    /// The machine-readable reason (`auth_failed`, ...) and its fixed sentence, when DOWN or ERROR.
    pub reason: Option<(&'static str, &'static str)>,
    pub now: i64,
}

/// The message of a status change: the context of the gateway that reported it (no user, no
/// token), the connection's project as the payload's.
pub fn status_change(c: &StatusChange<'_>, publisher: &Publisher) -> Outgoing {
    let payload = json!({"ipsec_site_connection": {
        wire::ID: c.id, wire::PROJECT_ID: c.project, wire::TENANT_ID: c.project,
        wire::STATUS: c.status, "previous_status": c.previous,
        "reason": c.reason.map(|r| r.0), "reason_description": c.reason.map(|r| r.1),
        "status_since": crate::clock::rfc3339(c.now),
    }});
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let roles = ["service".to_owned()];
    let who = Requester { project: c.project, user: None, roles: &roles, is_admin: true, request_id: &request_id };
    Outgoing::batch(&[head(publisher, STATUS_EVENT, &payload.to_string(), c.now)], &context(&who, c.now), None)
}

/// A broker address of oslo.messaging's `transport_url`: `rabbit://user:pass@host:port/vhost`,
/// several `user:pass@host:port` joined by commas for a cluster (tried in turn), the vhost
/// percent-encoded (none or empty: `/`). TLS as oslo.messaging spells it in the query:
/// `?ssl=1` (`true`), with `ssl_ca_file=PATH` added to the platform's trust store and
/// `ssl_cert_file=PATH&ssl_key_file=PATH` the client certificate the broker may ask for.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportUrl {
    pub hosts: Vec<Broker>,
    pub vhost: String,
    /// TLS, when `ssl` is on.
    pub tls: Option<BrokerTls>,
}

/// The TLS files of a [`TransportUrl`] (PEM).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerTls {
    /// Trusted besides the platform's store.
    pub ca_file: Option<std::path::PathBuf>,
    /// The client certificate (chain) and its private key.
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// One broker of a [`TransportUrl`].
#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

/// Why a `transport_url` cannot be used; never shows the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportUrlError {
    #[error("must start with rabbit:// (oslo.messaging's RabbitMQ driver)")]
    Scheme,
    #[error("names no host")]
    NoHost,
    #[error("has a port that is not a number in {0:?}")]
    Port(String),
    #[error("asks for {0}, which this server does not speak yet")]
    Unsupported(String),
    #[error("has ssl={0:?}, which is neither true nor false")]
    Ssl(String),
    #[error("names {0} without {1}: a client certificate needs both")]
    HalfAPair(&'static str, &'static str),
}

impl TransportUrl {
    pub fn parse(text: &str) -> Result<TransportUrl, TransportUrlError> {
        let rest = text.trim().strip_prefix("rabbit://").ok_or(TransportUrlError::Scheme)?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut ssl, mut ca_file, mut cert_file, mut key_file) = (false, None, None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "ssl" => {
                    ssl = match value.to_ascii_lowercase().as_str() {
                        "1" | "true" | "yes" | "on" => true,
                        "0" | "false" | "no" | "off" => false,
                        _ => return Err(TransportUrlError::Ssl(value.into_owned())),
                    }
                }
                "ssl_ca_file" => ca_file = Some(std::path::PathBuf::from(value.as_ref())),
                "ssl_cert_file" => cert_file = Some(std::path::PathBuf::from(value.as_ref())),
                "ssl_key_file" => key_file = Some(std::path::PathBuf::from(value.as_ref())),
                other if other.starts_with("ssl") => return Err(TransportUrlError::Unsupported(other.to_owned())),
                // oslo.messaging's other driver options (heartbeats, retries) have no use here.
                _ => {}
            }
        }
        let client = match (cert_file, key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(_), None) => return Err(TransportUrlError::HalfAPair("ssl_cert_file", "ssl_key_file")),
            (None, Some(_)) => return Err(TransportUrlError::HalfAPair("ssl_key_file", "ssl_cert_file")),
            (None, None) => None,
        };
        let tls = ssl.then_some(BrokerTls { ca_file, client });
        let (hosts, vhost) = rest.split_once('/').unwrap_or((rest, ""));
        let vhost = decode(vhost);
        let vhost = if vhost.is_empty() { "/".to_owned() } else { vhost };
        let mut out = Vec::new();
        for part in hosts.split(',').filter(|p| !p.is_empty()) {
            let (auth, hostport) = part.rsplit_once('@').unwrap_or(("guest:guest", part));
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| TransportUrlError::Port(hostport.to_owned()))?),
                None => (hostport, 5672),
            };
            if host.is_empty() {
                return Err(TransportUrlError::NoHost);
            }
            out.push(Broker { host: host.to_owned(), port, user: decode(user), password: decode(password) });
        }
        if out.is_empty() {
            return Err(TransportUrlError::NoHost);
        }
        Ok(TransportUrl { hosts: out, vhost, tls })
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

impl fmt::Debug for TransportUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.hosts.iter().map(|b| format!("{}:***@{}:{}", b.user, b.host, b.port)).collect();
        let tls = if self.tls.is_some() { "?ssl=1" } else { "" };
        write!(f, "rabbit://{}/{}{tls}", hosts.join(","), self.vhost)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Map;

    /// Neutron's publisher on host `h`.
    pub(crate) fn publisher() -> Publisher {
        Publisher {
            publisher_id: "network.h".into(),
            exchange: "neutron".into(),
            topic: "notifications".into(),
            durable: false,
            audit_topic: None,
        }
    }

    #[test]
    fn transport_urls_read_as_oslo_messaging_reads_them() {
        let t = TransportUrl::parse("rabbit://u:p%40ss@h1:5673,v:w@h2/%2Fopenstack").unwrap();
        assert_eq!(t.hosts.len(), 2);
        assert_eq!((t.hosts[0].user.as_str(), t.hosts[0].password.as_str(), t.hosts[0].port), ("u", "p@ss", 5673));
        assert_eq!((t.hosts[1].host.as_str(), t.hosts[1].port), ("h2", 5672));
        assert_eq!(t.vhost, "/openstack");
        assert_eq!(TransportUrl::parse("rabbit://guest:guest@127.0.0.1:5672/").unwrap().vhost, "/");
        assert_eq!(TransportUrl::parse("amqp://h/"), Err(TransportUrlError::Scheme));
        assert_eq!(TransportUrl::parse("rabbit:///"), Err(TransportUrlError::NoHost));
        let tls = TransportUrl::parse("rabbit://h/?ssl=1&ssl_ca_file=%2Fetc%2Fca.pem&heartbeat_rate=3").unwrap();
        assert_eq!(tls.tls, Some(BrokerTls { ca_file: Some("/etc/ca.pem".into()), client: None }));
        assert_eq!(TransportUrl::parse("rabbit://h/?ssl=true").unwrap().tls, Some(BrokerTls::default()));
        assert_eq!(TransportUrl::parse("rabbit://h/?ssl=0").unwrap().tls, None);
        assert!(matches!(TransportUrl::parse("rabbit://h/?ssl=maybe"), Err(TransportUrlError::Ssl(_))));
        let client = TransportUrl::parse("rabbit://h/?ssl=1&ssl_cert_file=c.pem&ssl_key_file=k.pem").unwrap();
        assert_eq!(client.tls.unwrap().client, Some(("c.pem".into(), "k.pem".into())));
        assert_eq!(
            TransportUrl::parse("rabbit://h/?ssl=1&ssl_cert_file=c"),
            Err(TransportUrlError::HalfAPair("ssl_cert_file", "ssl_key_file"))
        );
        assert!(matches!(
            TransportUrl::parse("rabbit://h/?ssl=1&ssl_version=TLSv1"),
            Err(TransportUrlError::Unsupported(_))
        ));
        assert!(!format!("{t:?}").contains("p@ss"), "{t:?}");
    }

    #[test]
    fn a_write_makes_a_start_and_an_end_in_oslo_messagings_envelope() {
        let roles = ["member".to_owned()];
        let who = Requester { project: "p1", user: Some("u1"), roles: &roles, is_admin: false, request_id: "req-1" };
        let render: Render = Box::new(|any| {
            let name = any.downcast_ref::<String>()?;
            Some(json!({"id": "c1", "name": name}).to_string().into_bytes())
        });
        let notes = Notes {
            resource: "ipsec_site_connection",
            action: Action::Delete,
            start: json!({"ipsec_site_connection_id": "c1"}).to_string(),
            id: Some("c1".into()),
            render,
            context: context(&who, 1_796_651_762_548_841),
        };
        let publisher = publisher();
        assert!(notes.messages(&1_u8, &publisher).is_empty(), "another type renders nothing");
        let rows = notes.messages(&"conn".to_owned(), &publisher);
        assert_eq!(rows.len(), 1, "one row per write");
        assert_eq!((rows[0].messages, rows[0].form), (2, Form::Batch));
        let out = rows[0].unpack().unwrap();
        assert_eq!(out.len(), 2);
        assert_ne!(out[0].message_id, out[1].message_id);
        let outer: Value = serde_json::from_str(&out[1].body).unwrap();
        assert_eq!(outer["oslo.version"], "2.0");
        let inner_text = outer["oslo.message"].as_str().unwrap();
        assert!(inner_text.starts_with("{\"message_id\": \""), "{inner_text}");
        let order = ["message_id", "publisher_id", "event_type", "priority", "payload", "timestamp", "_unique_id"];
        let at: Vec<usize> = order.iter().map(|k| inner_text.find(&format!("\"{k}\": ")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "oslo.messaging's order: {inner_text}");
        let inner: Map<String, Value> = serde_json::from_str(inner_text).unwrap();
        assert_eq!(inner["event_type"], "ipsec_site_connection.delete.end");
        assert_eq!(inner["message_id"], json!(out[1].message_id));
        assert_eq!(
            inner["payload"],
            json!({"ipsec_site_connection": {"id": "c1", "name": "conn"}, "ipsec_site_connection_id": "c1"})
        );
        assert_eq!(inner["_context_project_id"], "p1");
        assert_eq!(inner["_context_tenant_id"], "p1", "Ceilometer's project_id trait reads it");
        assert_eq!(inner["_context_roles"], json!(["member"]));
        assert_eq!(inner["_context_user_identity"], "u1 p1 - - -");
        assert_eq!(inner["_context_auth_token"], Value::Null);
    }

    #[test]
    fn a_row_splits_into_its_messages_whatever_their_strings_hold() {
        let roles = ["member".to_owned()];
        let who = Requester { project: "p1", user: None, roles: &roles, is_admin: false, request_id: "req-2" };
        let publisher = publisher();
        // A line break in a payload's string is escaped, never raw, so it cannot cut the row.
        let payload = json!({"ikepolicy": {"description": "two\nlines\r\u{2028}"}}).to_string();
        let heads = [head(&publisher, "ikepolicy.create.start", &payload, 1), head(&publisher, "x.y", "{}", 2)];
        let row = Outgoing::batch(&heads, &context(&who, 1), Some("audit.info".into()));
        let out = row.unpack().unwrap();
        assert_eq!(out.len(), 2);
        let inner: Value = serde_json::from_str(
            serde_json::from_str::<Value>(&out[0].body).unwrap()["oslo.message"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(inner["payload"]["ikepolicy"]["description"], "two\nlines\r\u{2028}");
        assert_eq!(inner["message_id"], json!(out[0].message_id));
        assert_eq!(inner["_context_request_id"], "req-2");
        // Keys in time order: a later row sorts after an earlier one.
        let later = Outgoing::batch(&heads, &context(&who, 1), None);
        assert!(later.id > row.id, "{} then {}", row.id, later.id);
        // The previous release's row is one message, its body as it was written.
        let old = Outgoing { form: Form::Envelope, messages: 1, ..row.clone() };
        assert_eq!(old.unpack().unwrap(), vec![Message { message_id: row.id.clone(), body: row.body.clone() }]);
        let broken = Outgoing { body: "ctx\nnot a message".into(), ..row };
        assert_eq!(broken.unpack(), None);
    }

    #[test]
    fn times_are_oslo_utils_and_secrets_never_stay() {
        assert_eq!(oslo_time(1_796_651_762_548_841), "2026-12-07 13:56:02.548841");
        assert_eq!(oslo_time(1_796_651_762_000_000), "2026-12-07 13:56:02");
        let v =
            without_secrets(json!({"ipsec_site_connection": {"psk": "s", "name": "n", "x": [{"private_key": "k"}]}}));
        assert_eq!(v, json!({"ipsec_site_connection": {"name": "n", "x": [{}]}}));
    }
}
