//! The relay (ADR 0043): publishes the outbox to RabbitMQ as oslo.messaging's RabbitMQ driver
//! publishes Neutron's notifications, with publisher confirms, and removes a message only once
//! the broker confirmed it. A broker that is down or unreachable stops nothing but the relay:
//! the outbox grows, and everything goes out when the broker is back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use amqprs::callbacks::{ChannelCallback, DefaultConnectionCallback};
use amqprs::channel::{
    BasicPublishArguments, Channel, ConfirmSelectArguments, ExchangeDeclareArguments, QueueBindArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::tls::TlsAdaptor;
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, FieldTable, Nack, Return};
use tokio::sync::mpsc;

use crate::clock::now_micros;
use crate::notifications::{BrokerTls, Outgoing, Publisher, TransportUrl};
use crate::store::Store;

/// How many messages one round claims and publishes before it waits for their confirms.
const ROUND: i64 = 500;
/// How long a relay holds the messages it claimed: past it, another relay may take them.
const CLAIM: Duration = Duration::from_secs(30);
/// How long the broker has to confirm a round.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);
/// Between rounds with nothing to publish, unless a write wakes the relay first.
const IDLE: Duration = Duration::from_secs(1);
/// How long a woken relay gathers messages before a round that is not full: each round costs
/// the database a write (the removal of what was confirmed), so a busy API is relayed in
/// batches rather than one write per message.
const GATHER: Duration = Duration::from_millis(25);
/// Reconnection backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A broker's confirm of one delivery tag (and those before it, when `multiple`).
#[derive(Debug, Clone, Copy)]
struct Confirm {
    tag: u64,
    multiple: bool,
    ack: bool,
}

/// Sends the broker's acks and nacks to the relay.
struct Confirms(mpsc::UnboundedSender<Option<Confirm>>);

#[async_trait::async_trait]
impl ChannelCallback for Confirms {
    async fn close(&mut self, _channel: &Channel, close: CloseChannel) -> Result<(), amqprs::error::Error> {
        tracing::warn!(reason = %close, "notifications: the broker closed the channel");
        let _ = self.0.send(None);
        Ok(())
    }
    async fn cancel(&mut self, _channel: &Channel, _cancel: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(&mut self, _channel: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        let _ = self.0.send(Some(Confirm { tag: ack.delivery_tag(), multiple: ack.mutiple(), ack: true }));
    }
    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        let _ = self.0.send(Some(Confirm { tag: nack.delivery_tag(), multiple: nack.multiple(), ack: false }));
    }
    async fn publish_return(&mut self, _channel: &Channel, _ret: Return, _p: BasicProperties, _content: Vec<u8>) {}
}

/// An open channel in confirm mode, with the exchange and the notification queue declared.
struct Link {
    connection: Connection,
    channel: Channel,
    confirms: mpsc::UnboundedReceiver<Option<Confirm>>,
    /// The delivery tag the next publish gets (confirm mode numbers publishes from 1).
    next_tag: u64,
}

/// Why a round did not go out; its messages stay in the outbox.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the broker: {0}")]
    Broker(#[from] amqprs::error::Error),
    #[error("the broker did not confirm within {0:?}")]
    Unconfirmed(Duration),
    #[error("the broker refused {0} messages")]
    Nacked(usize),
    #[error("the broker closed the channel")]
    Closed,
    #[error("the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("TLS: {0}")]
    Tls(String),
}

/// Runs the relay until the process ends: claims, publishes, confirms, removes.
pub async fn run(store: Store, url: TransportUrl, publisher: Publisher, kick: Arc<tokio::sync::Notify>) {
    let mut link: Option<Link> = None;
    let mut backoff = BACKOFF_MIN;
    let mut next_broker = 0usize;
    loop {
        if link.is_none() {
            let broker = &url.hosts[next_broker % url.hosts.len()];
            next_broker += 1;
            match connect(&url, next_broker - 1, &publisher).await {
                Ok(l) => {
                    tracing::info!(broker = %format!("{}:{}", broker.host, broker.port), "notifications: connected");
                    link = Some(l);
                    backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    tracing::warn!(broker = %format!("{}:{}", broker.host, broker.port), error = %e,
                        "notifications: cannot reach the broker; the outbox keeps the messages");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        }
        let Some(l) = link.as_mut() else { continue };
        match round(&store, l, &publisher).await {
            Ok(0) => {
                if tokio::time::timeout(IDLE, kick.notified()).await.is_ok() {
                    tokio::time::sleep(GATHER).await;
                }
            }
            Ok(n) if n < ROUND as usize => tokio::time::sleep(GATHER).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "notifications: a round did not go out; it will be published again");
                if let Some(old) = link.take() {
                    let _ = old.connection.close().await;
                }
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Between half of `d` and all of it, so that replicas come back apart.
fn jitter(d: Duration) -> Duration {
    let half = d.as_millis() as u64 / 2;
    Duration::from_millis(half + u64::from(uuid::Uuid::new_v4().as_u128() as u16) % half.max(1))
}

async fn connect(url: &TransportUrl, which: usize, publisher: &Publisher) -> Result<Link, RelayError> {
    let b = &url.hosts[which % url.hosts.len()];
    let mut args = OpenConnectionArguments::new(&b.host, b.port, &b.user, &b.password);
    args.virtual_host(&url.vhost).connection_name("vpnaas notifications");
    if let Some(files) = &url.tls {
        args.tls_adaptor(TlsAdaptor::new(tokio_rustls::TlsConnector::from(tls(files)?), b.host.clone()));
    }
    let connection = Connection::open(&args).await?;
    connection.register_callback(DefaultConnectionCallback).await?;
    let channel = connection.open_channel(None).await?;
    let (tx, confirms) = mpsc::unbounded_channel();
    channel.register_callback(Confirms(tx)).await?;
    channel.confirm_select(ConfirmSelectArguments::default()).await?;
    // As oslo.messaging declares them: a topic exchange, and the queue `<topic>.info` bound to
    // it, so that messages wait for a consumer that has not started yet.
    let mut exchange = ExchangeDeclareArguments::new(&publisher.exchange, "topic");
    exchange.durable = publisher.durable;
    channel.exchange_declare(exchange).await?;
    let queue_name = format!("{}.info", publisher.topic);
    let mut queue = QueueDeclareArguments::new(&queue_name);
    queue.durable(publisher.durable);
    channel.queue_declare(queue).await?;
    channel.queue_bind(QueueBindArguments::new(&queue_name, &publisher.exchange, &queue_name)).await?;
    if let Some(topic) = &publisher.audit_topic {
        let audit = format!("{topic}.info");
        let mut queue = QueueDeclareArguments::new(&audit);
        queue.durable(publisher.durable);
        channel.queue_declare(queue).await?;
        channel.queue_bind(QueueBindArguments::new(&audit, &publisher.exchange, &audit)).await?;
    }
    Ok(Link { connection, channel, confirms, next_tag: 1 })
}

/// TLS to the broker: the platform's trust store plus `ca_file`, ring as the provider, the
/// broker's name (or address) checked against its certificate, and the client certificate if
/// one is named. Read at each connection, so that renewed files are used on the next one.
pub(crate) fn tls(files: &BrokerTls) -> Result<Arc<rustls::ClientConfig>, RelayError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let named = |option: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        RelayError::Tls(format!("{option} {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &files.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| named("ssl_ca_file", path, &e))?;
        for cert in certs {
            roots.add(cert).map_err(|e| named("ssl_ca_file", path, &e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RelayError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match &files.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| named("ssl_cert_file", cert, &e))?;
            if chain.is_empty() {
                return Err(named("ssl_cert_file", cert, &"no certificate in the file"));
            }
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| named("ssl_key_file", key, &e))?;
            builder.with_client_auth_cert(chain, private).map_err(|e| named("ssl_key_file", key, &e))?
        }
    };
    Ok(Arc::new(config))
}

/// One round: claim, publish, wait for the confirms, remove the rows whose every message was
/// acked. How many messages went out.
async fn round(store: &Store, l: &mut Link, publisher: &Publisher) -> Result<usize, RelayError> {
    if !l.channel.is_open() || !l.connection.is_open() {
        return Err(RelayError::Closed);
    }
    let now = now_micros();
    let until = now + i64::try_from(CLAIM.as_micros()).unwrap_or(i64::MAX);
    let rows = store.claim_outbox(now, until, ROUND).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let routing_key = format!("{}.info", publisher.topic);
    // oslo.messaging's properties for a notification.
    let properties = BasicProperties::default()
        .with_content_type("application/json")
        .with_content_encoding("utf-8")
        .with_delivery_mode(2)
        .with_priority(0)
        .with_headers(FieldTable::new())
        .finish();
    // Per row: how many of its messages the broker has still to ack, and whether it nacked
    // one; none for a row that cannot be published.
    let mut waiting: Vec<Option<(usize, bool)>> = Vec::with_capacity(rows.len());
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    let mut broken = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(messages) = row.unpack() else {
            tracing::error!(outbox.id = %row.id, "notifications: an outbox row that does not split into messages is dropped");
            broken.push(row);
            waiting.push(None);
            continue;
        };
        waiting.push(Some((messages.len(), false)));
        let key = row.routing_key.as_deref().unwrap_or(&routing_key);
        for m in messages {
            let args = BasicPublishArguments::new(&publisher.exchange, key);
            if let Err(e) = l.channel.basic_publish(properties.clone(), m.body.into_bytes(), args).await {
                store.release_outbox(&rows.iter().collect::<Vec<_>>()).await?;
                return Err(e.into());
            }
            pending.insert(l.next_tag, i);
            l.next_tag += 1;
        }
    }
    store.remove_outbox(&broken).await?;
    let sent = pending.len();
    let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
    while !pending.is_empty() {
        let confirm = match tokio::time::timeout_at(deadline, l.confirms.recv()).await {
            Ok(Some(Some(c))) => c,
            Ok(Some(None)) | Ok(None) => break,
            Err(_) => break,
        };
        let tags: Vec<u64> =
            if confirm.multiple { pending.range(..=confirm.tag).map(|(t, _)| *t).collect() } else { vec![confirm.tag] };
        for tag in tags {
            if let Some(Some((left, nacked))) = pending.remove(&tag).and_then(|i| waiting.get_mut(i)) {
                *left -= 1;
                *nacked |= !confirm.ack;
            }
        }
    }
    let rows_where = |keep: fn(usize, bool) -> bool| -> Vec<&Outgoing> {
        rows.iter().zip(&waiting).filter(|(_, w)| w.is_some_and(|(l, n)| keep(l, n))).map(|(r, _)| r).collect()
    };
    store.remove_outbox(&rows_where(|left, nacked| left == 0 && !nacked)).await?;
    let unconfirmed = rows_where(|left, _| left > 0);
    if !unconfirmed.is_empty() {
        store.release_outbox(&unconfirmed).await?;
        return Err(if l.channel.is_open() { RelayError::Unconfirmed(CONFIRM_WITHIN) } else { RelayError::Closed });
    }
    let nacked = rows_where(|left, nacked| left == 0 && nacked);
    if !nacked.is_empty() {
        store.release_outbox(&nacked).await?;
        return Err(RelayError::Nacked(nacked.len()));
    }
    Ok(sent)
}
