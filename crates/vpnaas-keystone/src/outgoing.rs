//! The outgoing HTTP clients of vpnaas (the server's Keystone client, the agent's clients of
//! the gateway API and of Keystone): rustls with the platform's trust store, a private CA
//! from a file, a client certificate, and errors that name the TLS cause (ADR 0016).

use std::error::Error as StdError;
use std::net::IpAddr;
use std::path::PathBuf;

/// How a client connects: what it trusts besides the platform's store, what it presents,
/// and whether it may send a credential over plain HTTP to a host that is not loopback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM certificates trusted in addition to the platform's store (a private CA).
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM, with its chain) and its private key (PEM), for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Send credentials over `http://` to a host that is not loopback.
    pub allow_plaintext: bool,
}

/// Why the TLS settings cannot make a client: a file that cannot be read or holds no usable PEM.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("ca_file {}: {source}", .path.display())]
    ReadCaFile { path: PathBuf, source: std::io::Error },
    #[error("ca_file {}: not PEM certificates: {source}", .path.display())]
    CaNotPem { path: PathBuf, source: reqwest::Error },
    #[error("ca_file {}: no certificate in it", .path.display())]
    NoCaCertificate { path: PathBuf },
    #[error("client certificate {}: {source}", .path.display())]
    ReadClientCert { path: PathBuf, source: std::io::Error },
    #[error("client key {}: {source}", .path.display())]
    ReadClientKey { path: PathBuf, source: std::io::Error },
    // The key's text never appears here: reqwest's error names no content.
    #[error("client certificate {} with key {}: {source}", .cert.display(), .key.display())]
    ClientIdentity { cert: PathBuf, key: PathBuf, source: reqwest::Error },
}

/// Why a URL is refused; `what` names the setting it came from.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{what} {url:?}: {source}")]
    Invalid { what: String, url: String, source: <reqwest::Url as std::str::FromStr>::Err },
    #[error(
        "{what} {url:?}: the credential would cross the network in clear; use https:// (or allow plain HTTP \
         explicitly)"
    )]
    Plaintext { what: String, url: String },
    #[error("{what} {url:?}: the scheme must be http or https, not {scheme}")]
    Scheme { what: String, url: String, scheme: String },
}

impl ClientTls {
    /// A client builder with these settings: rustls, the platform's trust store
    /// (rustls-native-certs) plus `ca_file`, and the client certificate.
    pub fn builder(&self) -> Result<reqwest::ClientBuilder, TlsSetupError> {
        let mut builder = reqwest::Client::builder().use_rustls_tls().https_only(false);
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|source| TlsSetupError::ReadCaFile { path: path.clone(), source })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|source| TlsSetupError::CaNotPem { path: path.clone(), source })?;
            if certs.is_empty() {
                return Err(TlsSetupError::NoCaCertificate { path: path.clone() });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &self.client_cert {
            let mut pem =
                std::fs::read(cert).map_err(|source| TlsSetupError::ReadClientCert { path: cert.clone(), source })?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(key).map_err(|source| TlsSetupError::ReadClientKey { path: key.clone(), source })?,
            );
            let identity = reqwest::Identity::from_pem(&pem).map_err(|source| TlsSetupError::ClientIdentity {
                cert: cert.clone(),
                key: key.clone(),
                source,
            })?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }

    /// Refuses a URL that would carry a credential in clear: `http://` to a host other than
    /// loopback, unless `allow_plaintext`; `what` names the URL in the error.
    pub fn check_url(&self, what: &str, url: &str) -> Result<reqwest::Url, UrlError> {
        let (what, url_text) = (what.to_owned(), url.to_owned());
        let parsed = reqwest::Url::parse(url).map_err(|source| UrlError::Invalid {
            what: what.clone(),
            url: url_text.clone(),
            source,
        })?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_plaintext || is_loopback_host(&parsed) => Ok(parsed),
            "http" => Err(UrlError::Plaintext { what, url: url_text }),
            other => Err(UrlError::Scheme { what, url: url_text, scheme: other.to_owned() }),
        }
    }
}

/// Whether a URL's host is loopback: 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// An error and every cause under it, `outer: inner: ...` without repeats, followed by what
/// a TLS failure means (unknown CA, name mismatch, expired) when one is among the causes.
/// reqwest's errors name the URL, never headers or bodies, so no credential shows.
pub fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    let mut text = parts.join(": ");
    if let Some(hint) = tls_hint(&text) {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}

/// What a rustls certificate error means, from its name in an error's text.
fn tls_hint(text: &str) -> Option<&'static str> {
    [
        ("UnknownIssuer", "the server's certificate is not signed by a trusted CA: add its CA with ca_file"),
        ("NotValidForName", "the server's certificate does not name this host"),
        ("not valid for name", "the server's certificate does not name this host"),
        ("Expired", "the server's certificate has expired"),
        ("certificate expired", "the server's certificate has expired"),
        ("NotValidYet", "the server's certificate is not valid yet"),
        ("not valid yet", "the server's certificate is not valid yet"),
        ("Revoked", "the server's certificate is revoked"),
        ("BadSignature", "the server's certificate has a bad signature"),
        ("InvalidMessage", "the peer does not speak TLS on this port"),
        ("CorruptMessage", "the peer does not speak TLS on this port"),
    ]
    .into_iter()
    .find(|(needle, _)| text.contains(needle))
    .map(|(_, hint)| hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_loopback_unless_allowed() {
        let strict = ClientTls::default();
        for ok in ["http://127.0.0.1:9696", "http://127.8.0.1", "http://[::1]:9696", "http://localhost:1", "https://x"]
        {
            assert!(strict.check_url("server URL", ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:9696", "http://vpn.example.com", "http://[2001:db8::1]", "http://0.0.0.0"] {
            let err = strict.check_url("server URL", bad).unwrap_err().to_string();
            assert!(err.contains("in clear"), "{err}");
        }
        assert!(strict.check_url("server URL", "ftp://x").is_err());
        let allowed = ClientTls { allow_plaintext: true, ..ClientTls::default() };
        assert!(allowed.check_url("server URL", "http://10.0.0.1:9696").is_ok());
    }

    #[test]
    fn tls_causes_are_named() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("invalid peer certificate: UnknownIssuer"));
        let text = describe(&e);
        assert!(text.starts_with("error sending request: invalid peer certificate: UnknownIssuer ("), "{text}");
        assert!(text.contains("trusted CA"), "{text}");
    }
}
