//! A signal ends a one-shot command within seconds whatever it waits on:
//! here `auditctl sync` against a chain node that accepts the connection
//! and never answers (its own timeout is ten minutes). The command is
//! dropped, the process says so in one line and exits 128 + the signal's
//! number, and the store is left consistent and unlocked.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use audit_store::Store;

/// `//Alice`'s address: any well-formed validator hotkey will do.
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// A peer that accepts connections and never answers; reports each accept.
fn stalled_peer() -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, on_accept) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    (port, on_accept)
}

#[test]
fn a_signal_ends_sync_waiting_on_a_stalled_chain_within_seconds_and_leaves_the_store_consistent() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        let (port, on_accept) = stalled_peer();
        let data = dir.path().join("data");
        let config = dir.path().join("auditctl.yml");
        std::fs::write(
            &config,
            format!(
                "data_dir: {data}\n\
                 endpoints:\n  api: http://127.0.0.1:{port}/\n  timeout_seconds: 600\n\
                 validators:\n  - name: stalled\n    hotkey: {ALICE}\n    url: http://127.0.0.1:{port}/\n\
                 subtensor:\n  url: ws://127.0.0.1:{port}\n  archive_url: ws://127.0.0.1:{port}\n  timeout_seconds: 600\n",
                data = data.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_auditctl"))
            .arg("--config")
            .arg(&config)
            .arg("sync")
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command is waiting on the peer.
        on_accept
            .recv_timeout(Duration::from_secs(30))
            .expect("sync connects to the peer");
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap()
            .success());
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "SIG{signal}: still running after 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = sent.elapsed();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(
                "stopped by SIG{signal}: the command was cancelled"
            )),
            "{stderr}"
        );
        println!("SIG{signal}: sync ended {took:?} after the signal");

        // The lock is free and nothing is half-written.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::open_for_writing(
                &data,
                None,
                &audit_store::LockRequest {
                    command: "test".into(),
                    wait: audit_store::LockWait::Refuse,
                },
            )
            .await
            .expect("the write lock is free after the signal");
            assert_eq!(store.lake().clean_leftovers().unwrap(), 0);
            let summary = store.catalog().summary().await.unwrap();
            assert!(summary.entries.is_empty(), "{summary:?}");
        });
    }
}
