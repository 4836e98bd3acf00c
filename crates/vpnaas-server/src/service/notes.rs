//! Notifications in the write's own transaction (ADR 0043): the `.start` and `.end` messages
//! of an API write go to the outbox before the write commits, so a change is never published
//! without having happened, and never happens without being published.

use std::any::Any;
use std::sync::Arc;

use super::Service;
use crate::auth::Caller;
use crate::error::Result;
use crate::notifications::{Outgoing, Publisher};
use crate::store::{self, WriteTx};

impl Service {
    /// Publishes notifications of API writes as `publisher` (ADR 0043).
    pub fn with_publisher(mut self, publisher: Publisher) -> Service {
        self.publisher = Some(Arc::new(publisher));
        self
    }

    /// Whether API writes publish notifications.
    pub fn publisher(&self) -> Option<&Publisher> {
        self.publisher.as_deref()
    }

    /// Adds the caller's write's messages to the outbox in `w`: `item` is what the write made
    /// or changed, or what a delete removed. Nothing without a publisher or without notes.
    pub(crate) async fn note(&self, w: &mut WriteTx, caller: &Caller, item: &(dyn Any + Send + Sync)) -> Result<()> {
        let messages = self.rendered(caller, item);
        self.note_rendered(w, &messages).await
    }

    /// The messages of the caller's write about `item`, rendered before the write takes the
    /// database's writer (a create's item is whole before its transaction): SQLite has one
    /// writer, and rendering while holding it would hold up every other write.
    pub(crate) fn rendered(&self, caller: &Caller, item: &(dyn Any + Send + Sync)) -> Vec<Outgoing> {
        match (&self.publisher, caller.notes()) {
            (Some(publisher), Some(notes)) => notes.messages(item, publisher),
            _ => Vec::new(),
        }
    }

    /// Adds messages [`Service::rendered`] made to the outbox in `w`.
    pub(crate) async fn note_rendered(&self, w: &mut WriteTx, messages: &[Outgoing]) -> Result<()> {
        store::outbox::add(w.conn(), messages).await?;
        Ok(())
    }

    /// Sends audit events to `sink` (ADR 0043).
    pub fn with_audit(mut self, sink: crate::audit::AuditSink) -> Service {
        self.audit = Arc::new(sink);
        self
    }

    /// Whether API writes are audited.
    pub fn audits(&self) -> bool {
        self.audit.is_on()
    }

    /// Records the CADF event of an API write, whatever its outcome: to the file, and to the
    /// broker's audit topic through the outbox (its own transaction: a refused write has none).
    /// A failure here is logged; it never changes the answer.
    pub async fn audit(&self, a: &crate::audit::Audited<'_>, context: &crate::notifications::Context) {
        let event = crate::audit::cadf(a);
        self.audit.write(&event);
        let Some(publisher) = &self.publisher else { return };
        let Some(message) = self.audit.message(&event, publisher, context) else { return };
        let written = async {
            let mut w = self.store.begin_write().await?;
            store::outbox::add(w.conn(), std::slice::from_ref(&message)).await?;
            w.commit().await
        };
        match written.await {
            Ok(()) => self.kick_relay(),
            Err(e) => tracing::warn!(error = %e, "could not queue an audit event"),
        }
    }

    /// Tells the relay that the outbox has new messages (after the write committed).
    pub fn kick_relay(&self) {
        if self.publisher.is_some() {
            self.outbox_kick.notify_one();
        }
    }

    /// What the relay waits on between rounds.
    pub fn outbox_kick(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_kick.clone()
    }
}
