//! CADF audit events of API writes (ADR 0043), shaped as keystonemiddleware's audit middleware
//! writes them: one per create, update and delete, whatever its outcome, to a file (JSON
//! lines) and, with a broker, as `audit.http.response` on the operator's topic. Never a token.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::clock::now_micros;
use crate::notifications::{head, Context, Outgoing, Publisher};

/// One audited request.
pub struct Audited<'a> {
    /// `create`, `update` or `delete`.
    pub action: &'a str,
    /// The resource's singular name (`ipsec_site_connection`).
    pub resource: &'a str,
    /// The object the request named or made, when there is one.
    pub target: Option<&'a str>,
    pub status: u16,
    pub path: &'a str,
    pub project: &'a str,
    pub user: Option<&'a str>,
    pub request_id: &'a str,
    pub now: i64,
}

/// pycadf's timestamp: `2026-12-07T14:30:45.123456+0000`.
fn cadf_time(micros: i64) -> String {
    format!("{}+0000", crate::clock::space_micros(micros).replacen(' ', "T", 1))
}

/// The CADF event of `a`.
pub fn cadf(a: &Audited<'_>) -> Value {
    let outcome = if a.status < 400 { "success" } else { "failure" };
    json!({
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event",
        "id": uuid::Uuid::new_v4().to_string(),
        "eventTime": cadf_time(a.now),
        "eventType": "activity",
        "action": a.action,
        "outcome": outcome,
        "reason": {"reasonType": "HTTP", "reasonCode": a.status.to_string()},
        "initiator": {
            "typeURI": "service/security/account/user",
            "id": a.user.unwrap_or("unknown"),
            "project_id": a.project,
        },
        "target": {
            "typeURI": format!("service/network/vpn/{}", a.resource),
            "id": a.target.unwrap_or("unknown"),
        },
        "observer": {"typeURI": "service/network", "id": "target", "name": "vpnaas"},
        "requestPath": a.path,
        "tags": [format!("correlation_id?value={}", a.request_id)],
    })
}

/// Where audit events go.
#[derive(Default)]
pub struct AuditSink {
    file: Option<(PathBuf, Mutex<std::fs::File>)>,
    topic: Option<String>,
}

impl AuditSink {
    /// Appends to `file` (created 0600 if missing), and/or publishes on `topic`.
    pub fn open(file: Option<&Path>, topic: Option<String>) -> std::io::Result<AuditSink> {
        let file = match file {
            Some(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
                Some((path.to_owned(), Mutex::new(f)))
            }
            None => None,
        };
        Ok(AuditSink { file, topic })
    }

    pub fn is_on(&self) -> bool {
        self.file.is_some() || self.topic.is_some()
    }

    /// Writes `event` to the file, if there is one; a failure is logged, never answered.
    pub fn write(&self, event: &Value) {
        let Some((path, file)) = &self.file else { return };
        let line = format!("{event}\n");
        let written = match file.lock() {
            Ok(mut f) => f.write_all(line.as_bytes()),
            Err(_) => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), error = %e, "could not write an audit event");
        }
    }

    /// The message of `event` for the audit topic, if events go to the broker.
    pub fn message(&self, event: &Value, publisher: &Publisher, context: &Context) -> Option<Outgoing> {
        let topic = self.topic.as_ref()?;
        let message = head(publisher, "audit.http.response", &event.to_string(), now_micros());
        Some(Outgoing::batch(&[message], context, Some(format!("{topic}.info"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_initiator_target_action_outcome_and_request() {
        let a = Audited {
            action: "delete",
            resource: "ikepolicy",
            target: Some("i1"),
            status: 409,
            path: "/v2.0/vpn/ikepolicies/i1",
            project: "p1",
            user: None,
            request_id: "req-1",
            now: 1_796_651_762_548_841,
        };
        let e = cadf(&a);
        assert_eq!(e["outcome"], "failure");
        assert_eq!(e["reason"]["reasonCode"], "409");
        assert_eq!(e["eventTime"], "2026-12-07T13:56:02.548841+0000");
        assert_eq!(e["target"], json!({"typeURI": "service/network/vpn/ikepolicy", "id": "i1"}));
        assert_eq!(e["initiator"]["project_id"], "p1");
        assert_eq!(e["tags"], json!(["correlation_id?value=req-1"]));
        assert!(e.get("credential").is_none() && !e.to_string().contains("token"));
    }
}
