//! The writer lock across processes: a second process is refused while
//! the first holds it, and a holder killed with SIGKILL leaves no stale
//! lock behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use audit_store::{LockRequest, StoreError, WriteLock};

const CHILD_DIR: &str = "AUDIT_STORE_LOCK_CHILD_DIR";

/// Run as a child by the test below: takes the lock, says so, and sleeps
/// until killed.
#[test]
#[ignore = "a helper process for a_killed_holder_leaves_no_stale_lock"]
fn child_holds_the_lock() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let _lock = WriteLock::acquire(dir.as_ref(), &LockRequest::refuse("child sync")).unwrap();
    println!("locked");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_killed_holder_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holds_the_lock",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("locked"))),
        "the child did not take the lock"
    );

    let err = WriteLock::acquire(dir.path(), &LockRequest::refuse("auditctl sync")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Locked { .. }), "{text}");
    assert!(text.contains(&format!("pid {}", child.id())), "{text}");
    assert!(text.contains("child sync"), "{text}");

    child.kill().unwrap(); // SIGKILL: no destructor runs.
    child.wait().unwrap();
    WriteLock::acquire(dir.path(), &LockRequest::refuse("auditctl sync")).unwrap();
}
