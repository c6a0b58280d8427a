//! PostgreSQL connections: libpq's `sslmode` and `sslrootcert` over rustls,
//! and the connection pool.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and without
//! a TLS connector even `require` fails at the handshake. Managed databases
//! require TLS, and checking the server's certificate is what makes it worth
//! having, so the URL's TLS parameters are taken out here, turned into a
//! rustls configuration with libpq's meaning, and the rest of the URL is
//! left to tokio-postgres.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use futures::FutureExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::StoreError;

/// Catalog connections one process keeps open at most: `run`'s stages,
/// its report page and metrics read beside a sync's writes.
pub(crate) const POOL_SIZE: usize = 8;
/// How long a caller waits for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(60);
/// The deadline on opening one connection (TCP, TLS and the startup),
/// unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT_SECS: u64 = 10;

/// libpq's `sslmode`, which tokio-postgres only knows in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, unchecked; plain otherwise
    /// (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is checked against `sslrootcert`
    /// when one is given (as libpq does), not otherwise.
    Require,
    /// TLS with a certificate chain to `sslrootcert`, any host name.
    VerifyCa,
    /// TLS with a certificate chain to `sslrootcert` naming the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => SslMode::Disable,
            // libpq's `allow` tries plain first; tokio-postgres cannot, and
            // `prefer` offers the same guarantee (none).
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The nearest mode tokio-postgres itself understands.
    fn driver_mode(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }
}

/// Where the trusted certificates for `verify-*` come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootCerts {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The platform's trust store (`sslrootcert=system`, as libpq 16).
    System,
}

/// A PostgreSQL URL split into what tokio-postgres is given and how TLS is
/// set up.
#[derive(Clone)]
pub(crate) struct PgTarget {
    /// The URL without `sslrootcert`, `sslmode` reduced to one tokio-postgres
    /// knows, and a connect timeout.
    driver_url: String,
    tls: Option<Arc<ClientConfig>>,
}

fn settings_error(url: &str, message: impl Into<String>) -> StoreError {
    StoreError::TlsSettings {
        url: audit_model::mask_secrets(url),
        message: message.into(),
    }
}

impl PgTarget {
    /// Reads `sslmode` (default `prefer`) and `sslrootcert` from the URL and
    /// loads the root certificates, so a wrong path is reported at open,
    /// not at the first query.
    pub(crate) fn parse(raw: &str) -> Result<Self, StoreError> {
        let mut url = url::Url::parse(raw).map_err(|e| settings_error(raw, e.to_string()))?;
        let mut mode = SslMode::Prefer;
        let mut roots = None;
        // Other parameters are kept as written: re-encoding them would turn
        // `%20` into `+`, which tokio-postgres does not read as a space.
        let mut kept: Vec<String> = Vec::new();
        let mut has_timeout = false;
        for part in url
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let Some((key, value)) = url::form_urlencoded::parse(part.as_bytes()).next() else {
                continue;
            };
            match key.as_ref() {
                "sslmode" => {
                    mode = SslMode::parse(&value).ok_or_else(|| {
                        settings_error(
                            raw,
                            format!(
                                "sslmode `{value}` is not one of disable, allow, prefer, require, \
                                 verify-ca, verify-full"
                            ),
                        )
                    })?;
                }
                "sslrootcert" if value == "system" => roots = Some(RootCerts::System),
                "sslrootcert" => roots = Some(RootCerts::File(PathBuf::from(value.as_ref()))),
                other => {
                    has_timeout |= other == "connect_timeout";
                    kept.push(part.to_string());
                }
            }
        }
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && roots.is_none() {
            return Err(settings_error(
                raw,
                "sslmode=verify-ca and verify-full need sslrootcert=PATH (the CA's PEM file) \
                 or sslrootcert=system",
            ));
        }
        if !has_timeout {
            kept.push(format!("connect_timeout={CONNECT_TIMEOUT_SECS}"));
        }
        kept.push(format!("sslmode={}", mode.driver_mode()));
        url.set_query(Some(&kept.join("&")));
        let tls = match mode {
            SslMode::Disable => None,
            _ => Some(Arc::new(client_config(raw, mode, roots.as_ref())?)),
        };
        Ok(PgTarget {
            driver_url: url.to_string(),
            tls,
        })
    }

    /// Opens one connection: TCP, TLS as configured, the startup, all
    /// within the URL's `connect_timeout` (the driver bounds only the TCP
    /// connect; a peer that accepts and then says nothing must not hang
    /// the caller).
    pub(crate) async fn connect(&self) -> Result<AsyncPgConnection, ConnectionError> {
        let config: tokio_postgres::Config = self
            .driver_url
            .parse()
            .map_err(|e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string()))?;
        let deadline = config
            .get_connect_timeout()
            .copied()
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(CONNECT_TIMEOUT_SECS));
        let failed = |e: tokio_postgres::Error| {
            // The driver's Display stops at "error performing TLS
            // handshake"; the cause says which check failed.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            ConnectionError::BadConnection(message)
        };
        let open = async {
            match &self.tls {
                None => {
                    let (client, conn) = config
                        .connect(tokio_postgres::NoTls)
                        .await
                        .map_err(failed)?;
                    AsyncPgConnection::try_from_client_and_connection(client, conn).await
                }
                Some(tls) => {
                    let connector = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                    let (client, conn) = config.connect(connector).await.map_err(failed)?;
                    AsyncPgConnection::try_from_client_and_connection(client, conn).await
                }
            }
        };
        tokio::time::timeout(deadline, open)
            .await
            .unwrap_or_else(|_| {
                Err(ConnectionError::BadConnection(format!(
                    "no answer within {} s (connect_timeout)",
                    deadline.as_secs_f64()
                )))
            })
    }

    /// A pool of up to [`POOL_SIZE`] connections opened like [`Self::connect`].
    /// Each connection is checked with a round trip when handed out, so a
    /// restarted server costs no failed query.
    pub(crate) fn pool(&self) -> Result<PgPool, StoreError> {
        let target = self.clone();
        let mut config = ManagerConfig::<AsyncPgConnection>::default();
        config.custom_setup = Box::new(move |_url| {
            let target = target.clone();
            async move { target.connect().await }.boxed()
        });
        config.recycling_method = RecyclingMethod::Verified;
        let manager =
            AsyncDieselConnectionManager::new_with_config(self.driver_url.clone(), config);
        Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Pool {
                url: audit_model::mask_secrets(&self.driver_url),
                message: e.to_string(),
            })
    }
}

/// The pool of PostgreSQL catalog connections.
pub(crate) type PgPool = Pool<AsyncPgConnection>;
/// A connection on loan from [`PgPool`].
pub(crate) type PgPooled = Object<AsyncPgConnection>;

/// A pool failure as a store error: a connection that cannot be opened
/// is [`StoreError::Connect`], as it is at open.
pub(crate) fn pool_error(url: &str, err: PoolError) -> StoreError {
    use deadpool::managed::PoolError as P;
    use diesel_async::pooled_connection::PoolError as Backend;
    match err {
        P::Backend(Backend::ConnectionError(source)) => StoreError::Connect {
            url: url.to_string(),
            source,
        },
        P::Backend(Backend::QueryError(source)) => StoreError::Query {
            op: "check a pooled catalog connection",
            source,
        },
        P::Timeout(_) => StoreError::Pool {
            url: url.to_string(),
            message: format!(
                "no connection became free within {} s: all {POOL_SIZE} are busy",
                POOL_WAIT.as_secs()
            ),
        },
        other => StoreError::Pool {
            url: url.to_string(),
            message: other.to_string(),
        },
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(
    raw: &str,
    mode: SslMode,
    roots: Option<&RootCerts>,
) -> Result<ClientConfig, StoreError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| settings_error(raw, e.to_string()))?;
    let roots = match roots {
        Some(roots) => Some(Arc::new(root_store(raw, roots)?)),
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        // libpq: without a root certificate, prefer and require encrypt
        // but do not authenticate the server (disable never gets here).
        (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => {
            Arc::new(EncryptOnly(provider.clone()))
        }
        (SslMode::Require | SslMode::VerifyCa, Some(roots)) => {
            Arc::new(ChainOnly(webpki(raw, roots, &provider)?))
        }
        (SslMode::VerifyFull, Some(roots)) => webpki(raw, roots, &provider)?,
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(settings_error(
                raw,
                "verify-ca and verify-full need sslrootcert",
            ))
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn webpki(
    raw: &str,
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, StoreError> {
    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| settings_error(raw, format!("root certificates: {e}")))
}

fn root_store(raw: &str, roots: &RootCerts) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| settings_error(raw, format!("sslrootcert {}: {e}", path.display())))?;
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(settings_error(
                    raw,
                    format!("sslrootcert {} holds no usable certificate", path.display()),
                ));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(settings_error(
                    raw,
                    "sslrootcert=system: the platform trust store holds no certificate",
                ));
            }
        }
    }
    Ok(store)
}

/// `prefer`/`require` without a root certificate: any certificate is
/// taken, but the handshake's signatures are still checked, so the
/// session is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name on the
/// certificate is not compared with the host (webpki checks the name only
/// after the chain holds, so a name mismatch means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver_url(url: &str) -> String {
        PgTarget::parse(url).unwrap().driver_url
    }

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        assert_eq!(
            driver_url("postgres://u@h/db"),
            "postgres://u@h/db?connect_timeout=10&sslmode=prefer"
        );
        assert_eq!(
            driver_url("postgres://u@h/db?sslmode=require&options=-c%20x%3D1&connect_timeout=3"),
            "postgres://u@h/db?options=-c%20x%3D1&connect_timeout=3&sslmode=require"
        );
        let plain = PgTarget::parse("postgres://u@h/db?sslmode=disable").unwrap();
        assert!(plain.tls.is_none());
        assert!(plain.driver_url.ends_with("sslmode=disable"));
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let err = PgTarget::parse("postgres://u:hunter2@h/db?sslmode=verify-full")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sslrootcert"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = PgTarget::parse("postgres://u@h/db?sslmode=bogus")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sslmode `bogus`"), "{err}");
        let err =
            PgTarget::parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem")
                .err()
                .unwrap()
                .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
