//! HTTPS for the API (ADR 0016): the rustls configuration of the listener, a certificate read
//! again when its files change, optional client certificates for the gateway API, and what
//! the connection layer tells the handlers about the peer (its address, whether it came
//! over TLS, the names of its client certificate).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

use crate::config::Config;

/// How often the certificate files are looked at, at most (one `stat` of each per check).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Who is at the other end of a request's connection; the connection layer puts it in every
/// request's extensions.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The socket's peer address (never a header's claim).
    pub addr: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The client certificate the configured client CA verified, if one was presented.
    pub client: Option<Arc<ClientIdentity>>,
}

impl Peer {
    /// Whether secrets may go to this peer: over TLS, or to loopback, or when plain HTTP is
    /// allowed for them (`allow_plaintext_secrets`).
    pub fn may_receive_secrets(&self, allow_plaintext: bool) -> bool {
        secrets_may_go(self.tls, self.addr.ip(), allow_plaintext)
    }
}

/// The rule of the plaintext guard: TLS, or a loopback peer (127.0.0.0/8, ::1, also as an
/// IPv4-mapped IPv6 address), or the setting that allows plain HTTP.
pub fn secrets_may_go(tls: bool, peer: IpAddr, allow_plaintext: bool) -> bool {
    tls || allow_plaintext || peer.to_canonical().is_loopback()
}

/// The names a verified client certificate carries: its subject's common names and its DNS
/// subject alternative names. A name that is a UUID names a router (one-router agents);
/// any other names a host (`binding:host_id`, one agent per host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub names: Vec<String>,
}

impl ClientIdentity {
    /// The names of a certificate in DER; none when it does not parse (then it covers nothing).
    pub fn from_der(der: &[u8]) -> ClientIdentity {
        let mut names = Vec::new();
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
            for cn in cert.subject().iter_common_name() {
                if let Ok(text) = cn.as_str() {
                    names.push(text.to_owned());
                }
            }
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                for name in &san.value.general_names {
                    if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                        names.push((*dns).to_owned());
                    }
                }
            }
        }
        names.dedup();
        ClientIdentity { names }
    }

    /// Whether the certificate names this host.
    pub fn covers_host(&self, host: &str) -> bool {
        Uuid::parse_str(host).is_err() && self.names.iter().any(|n| n == host)
    }

    /// Whether the certificate names this router by its id.
    pub fn covers_router(&self, router: Uuid) -> bool {
        self.names.iter().any(|n| Uuid::parse_str(n).is_ok_and(|id| id == router))
    }

    /// The host names among its names (for routers placed on one of them).
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str).filter(|n| Uuid::parse_str(n).is_err())
    }
}

/// Why the listener's TLS cannot be set up: settings that do not fit together, or files
/// that do not load. No error quotes a key: the PEM errors name positions and kinds.
#[derive(Debug)]
pub enum TlsError {
    ClientCaWithoutCertificate,
    HalfAPair,
    Protocols(rustls::Error),
    /// `setting`: the setting that named the file.
    ReadCertificates {
        setting: &'static str,
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    NoCertificate {
        setting: &'static str,
        path: PathBuf,
    },
    ClientCa {
        path: PathBuf,
        source: rustls::Error,
    },
    ClientVerifier {
        path: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    ReadKey {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::ClientCaWithoutCertificate => f.write_str(
                "tls_client_ca_file needs tls_cert_file and tls_key_file (client certificates come over HTTPS)",
            ),
            TlsError::HalfAPair => {
                f.write_str("tls_cert_file and tls_key_file go together: set both, or neither for plain HTTP")
            }
            TlsError::Protocols(e) => write!(f, "TLS: {e}"),
            TlsError::ReadCertificates { setting, path, source } => write!(f, "{setting} {}: {source}", path.display()),
            TlsError::NoCertificate { setting, path } => {
                write!(f, "{setting} {}: no PEM certificate in it", path.display())
            }
            TlsError::ClientCa { path, source } => write!(f, "tls_client_ca_file {}: {source}", path.display()),
            TlsError::ClientVerifier { path, source } => write!(f, "tls_client_ca_file {}: {source}", path.display()),
            TlsError::ReadKey { path, source } => write!(f, "tls_key_file {}: {source}", path.display()),
            TlsError::KeyMismatch { cert, key, source } => {
                write!(f, "tls_cert_file {} with tls_key_file {}: {source}", cert.display(), key.display())
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::ClientCaWithoutCertificate | TlsError::HalfAPair | TlsError::NoCertificate { .. } => None,
            TlsError::Protocols(source) | TlsError::ClientCa { source, .. } | TlsError::KeyMismatch { source, .. } => {
                Some(source)
            }
            TlsError::ReadCertificates { source, .. } | TlsError::ReadKey { source, .. } => Some(source),
            TlsError::ClientVerifier { source, .. } => Some(source),
        }
    }
}

/// The listener's TLS, when `tls_cert_file` and `tls_key_file` are set: the acceptor, and
/// whether client certificates are asked for.
pub fn acceptor(config: &Config) -> Result<Option<TlsAcceptor>, TlsError> {
    let (cert, key) = match (&config.tls_cert_file, &config.tls_key_file) {
        (None, None) => {
            if config.tls_client_ca_file.is_some() {
                return Err(TlsError::ClientCaWithoutCertificate);
            }
            return Ok(None);
        }
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => return Err(TlsError::HalfAPair),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Rotating::open(cert, key, provider.clone())?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocols)?;
    let builder = match &config.tls_client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path, "tls_client_ca_file")? {
                roots.add(cert).map_err(|source| TlsError::ClientCa { path: path.clone(), source })?;
            }
            // Optional at the TLS layer: API clients without a certificate still connect; the
            // gateway API decides what a certificate, or its absence, allows.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|source| TlsError::ClientVerifier { path: path.clone(), source })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_cert_resolver(Arc::new(resolver));
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

fn read_certs(path: &Path, setting: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |source| TlsError::ReadCertificates { setting, path: path.to_owned(), source };
    let certs =
        CertificateDer::pem_file_iter(path).map_err(unreadable)?.collect::<Result<Vec<_>, _>>().map_err(unreadable)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { setting, path: path.to_owned() });
    }
    Ok(certs)
}

/// The certificate and key files as a served key; the key must match the certificate.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_certs(cert, "tls_cert_file")?;
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey { path: key.to_owned(), source })?;
    let certified = CertifiedKey::from_der(chain, key_der, provider).map_err(|source| TlsError::KeyMismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    })?;
    Ok(Arc::new(certified))
}

/// What identifies a version of the two files: modification time and length of each.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let of = |p: &Path| std::fs::metadata(p).map_or((None, 0), |m| (m.modified().ok(), m.len()));
    [of(cert), of(key)]
}

/// The served certificate: the files are looked at during a handshake at most once a second
/// and read again when either changed; a pair that does not load (half written, a key that
/// does not match) keeps the previous one in service, with a warning.
struct Rotating {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<Served>,
}

struct Served {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

impl Rotating {
    fn open(cert: PathBuf, key: PathBuf, provider: Arc<CryptoProvider>) -> Result<Rotating, TlsError> {
        let stamp = stamp(&cert, &key);
        let served = load(&cert, &key, &provider)?;
        let state = Mutex::new(Served { key: served, stamp, checked: Instant::now() });
        Ok(Rotating { cert, key, provider, state })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut served = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if served.checked.elapsed() >= CHECK_EVERY {
            served.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now != served.stamp {
                served.stamp = now;
                match load(&self.cert, &self.key, &self.provider) {
                    Ok(key) => {
                        served.key = key;
                        tracing::info!(cert = %self.cert.display(), "TLS certificate read again; new connections get it");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate not reloaded; the previous one stays in service")
                    }
                }
            }
        }
        served.key.clone()
    }
}

impl fmt::Debug for Rotating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotating").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Rotating {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_over_tls_or_to_loopback_or_when_allowed() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for lo in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(secrets_may_go(false, ip(lo), false), "{lo}");
        }
        for far in ["10.0.0.1", "192.0.2.1", "0.0.0.0", "2001:db8::1", "::ffff:10.0.0.1"] {
            assert!(!secrets_may_go(false, ip(far), false), "{far}");
            assert!(secrets_may_go(true, ip(far), false), "{far} over TLS");
            assert!(secrets_may_go(false, ip(far), true), "{far} allowed");
        }
    }

    fn cert_with(names: &[&str], cn: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_covers_the_hosts_and_routers_it_names() {
        let router = Uuid::new_v4();
        let id = ClientIdentity::from_der(&cert_with(&["net-1"], &router.to_string()));
        assert!(id.covers_host("net-1") && !id.covers_host("net-2"));
        assert!(id.covers_router(router) && !id.covers_router(Uuid::new_v4()));
        assert!(!id.covers_host(&router.to_string()), "a router id is not a host name");
        assert_eq!(id.hosts().collect::<Vec<_>>(), ["net-1"]);
        assert_eq!(ClientIdentity::from_der(b"not DER").names, Vec::<String>::new());
    }

    #[test]
    fn a_rewritten_certificate_is_served_within_a_second_and_a_broken_one_is_not() {
        let dir = tempfile::TempDir::new().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let write = |cn: &str| {
            let k = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
            let c = params.self_signed(&k).unwrap();
            std::fs::write(&cert, c.pem()).unwrap();
            std::fs::write(&key, k.serialize_pem()).unwrap();
            c.der().to_vec()
        };
        let first = write("one");
        let r = Rotating::open(cert.clone(), key.clone(), Arc::new(rustls::crypto::ring::default_provider())).unwrap();
        assert_eq!(r.current().cert[0].as_ref(), first.as_slice());
        let second = write("two");
        std::thread::sleep(CHECK_EVERY + Duration::from_millis(50));
        assert_eq!(r.current().cert[0].as_ref(), second.as_slice());
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        std::thread::sleep(CHECK_EVERY + Duration::from_millis(50));
        assert_eq!(r.current().cert[0].as_ref(), second.as_slice(), "a broken key keeps the previous pair");
    }
}
