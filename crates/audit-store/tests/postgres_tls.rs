//! The catalog over TLS, against a PostgreSQL cluster of its own started
//! with `ssl = on`, a server certificate for `localhost` from a CA made
//! here, and a pg_hba.conf that refuses unencrypted sessions: managed
//! databases look like this. Skipped with a notice when the PostgreSQL
//! server binaries are absent, unless `REQUIRE_POSTGRES=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use audit_store::{Catalog, StoreError};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};

/// The newest installed PostgreSQL server binaries.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a command");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// initdb refuses root: as root, run the server tools as `postgres`.
struct ServerUser {
    ids: Option<(u32, u32)>,
}

impl ServerUser {
    fn find() -> Self {
        let root = output(Command::new("id").arg("-u")) == "0";
        let ids = root.then(|| {
            let id = |flag| {
                output(Command::new("id").args([flag, "postgres"]))
                    .parse()
                    .ok()
            };
            (
                id("-u").expect("a postgres user"),
                id("-g").expect("a postgres group"),
            )
        });
        ServerUser { ids }
    }

    fn run(&self, program: &Path, args: &[&str]) {
        let mut cmd = match self.ids {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        let out = cmd.args(args).output().expect("run a server tool");
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Makes `path` the server user's (the key must be its, mode 0600).
    fn own(&self, path: &Path) {
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
        }
    }
}

/// A CA made for the test: its PEM file and its issuer.
fn certificate_authority(dir: &Path, name: &str) -> (PathBuf, CertifiedIssuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, issuer.pem()).unwrap();
    (path, issuer)
}

struct TlsCluster {
    bin: PathBuf,
    user: ServerUser,
    data: PathBuf,
    port: u16,
    ca: PathBuf,
    other_ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsCluster {
    fn start() -> Option<Self> {
        let Some(bin) = server_binaries() else {
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_POSTGRES=1 but no PostgreSQL server binaries under /usr/lib/postgresql");
            }
            eprintln!(
                "\n!!! SKIPPING PostgreSQL over TLS: no server binaries under /usr/lib/postgresql.\n"
            );
            return None;
        };
        let user = ServerUser::find();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        user.own(&root);
        let data = root.join("data");
        let data_arg = data.to_str().unwrap();
        user.run(
            &bin.join("initdb"),
            &[
                "-D",
                data_arg,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );

        let (ca, ca_issuer) = certificate_authority(&root, "test-ca");
        let (other_ca, _) = certificate_authority(&root, "other-ca");
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca_issuer)
            .unwrap();
        let (cert_path, key_path) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        user.own(&cert_path);
        user.own(&key_path);

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n",
            root.display()
        ));
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        // Encrypted sessions only, as managed databases have it.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let log = root.join("server.log");
        user.run(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data_arg,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        Some(TlsCluster {
            bin,
            user,
            data,
            port,
            ca,
            other_ca,
            _dir: dir,
        })
    }

    /// A catalog URL reaching the server at 127.0.0.1 under `host`, the
    /// name the certificate is checked against.
    fn url(&self, host: &str, params: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/postgres?hostaddr=127.0.0.1&{params}",
            self.port
        )
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data.to_string_lossy().to_string();
        let _ = std::panic::catch_unwind(|| {
            self.user
                .run(&pg_ctl, &["-D", &data, "-m", "immediate", "stop"])
        });
    }
}

async fn open(url: &str) -> Result<Catalog, String> {
    Catalog::open(url).await.map_err(|e| {
        assert!(
            matches!(e, StoreError::Connect { .. }),
            "expected a connection failure, got {e}"
        );
        e.to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_opens_over_tls_as_sslmode_says() {
    let Some(server) = TlsCluster::start() else {
        return;
    };
    let ca = server.ca.display().to_string();
    let other_ca = server.other_ca.display().to_string();

    // The server refuses plain sessions: every success below is encrypted.
    let plain = open(&server.url("localhost", "sslmode=disable"))
        .await
        .expect_err("the server refuses a plain session");
    assert!(plain.contains("no encryption"), "{plain}");

    // Encrypted, the server's certificate unchecked (libpq's require and
    // its default, prefer).
    open(&server.url("localhost", "sslmode=require"))
        .await
        .expect("sslmode=require");
    open(&server.url("wrong.example", "application_name=audit"))
        .await
        .expect("the default sslmode (prefer) takes TLS when offered");

    // Checked: the chain to the test's CA, and the host name.
    open(&server.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .expect("verify-full with the right CA and host name");
    let wrong_name = open(&server.url(
        "wrong.example",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .expect_err("verify-full refuses a certificate for another name");
    assert!(wrong_name.contains("not valid for name"), "{wrong_name}");
    open(&server.url(
        "wrong.example",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .await
    .expect("verify-ca checks the chain, not the name");

    // A CA that did not sign the server's certificate.
    for mode in ["verify-full", "verify-ca", "require"] {
        let err = open(&server.url(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={other_ca}"),
        ))
        .await
        .err()
        .unwrap_or_else(|| panic!("{mode} with another CA must refuse the server"));
        assert!(err.contains("UnknownIssuer"), "{mode}: {err}");
    }
}

/// A peer that accepts the TCP connection and then says nothing: opening
/// the catalog gives up at the URL's connect_timeout instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_given_up_at_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    for params in ["sslmode=require", "sslmode=disable"] {
        let url =
            format!("postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=1&{params}");
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), Catalog::open(&url))
            .await
            .unwrap_or_else(|_| panic!("{params}: opening hung past 20 s"));
        let err = outcome.expect_err("a silent server cannot be a catalog");
        assert!(
            err.to_string().contains("no answer within 1 s"),
            "{params}: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{params}"
        );
    }
    silent.abort();
}
