//! One writer at a time per data directory and per catalog.
//!
//! Two syncs on one data directory interleave badly: one run's leftover
//! cleaning deletes the files the other is writing, and the catalog then
//! claims facts the lake does not hold. Every command that writes takes a
//! [`WriteLock`] first: an exclusive `flock` on `<data_dir>/.lock`, which
//! the kernel releases when the process exits or is killed, so a crash
//! never leaves a stale lock. The file's text names the holder (pid,
//! command, start time) so a refusal can say who is writing.
//!
//! A PostgreSQL catalog can be shared by two data directories; the store
//! then also takes a session-level advisory lock in that database
//! ([`CATALOG_LOCK_KEY`]), which PostgreSQL drops with the session.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};

use crate::StoreError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = ".lock";

/// The advisory-lock key every auditor takes in a PostgreSQL catalog
/// (the bytes of "chutesau" as a big-endian i64).
pub const CATALOG_LOCK_KEY: i64 = 0x6368_7574_6573_6175;

/// What to do when another process holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockWait {
    /// Fail at once, naming the holder (the default: a cron job should
    /// not pile up behind a stuck run).
    #[default]
    Refuse,
    /// Block until the holder is done.
    Wait,
}

/// Who asks for the lock, written into the lock file for the next asker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    /// The command taking the lock, e.g. `auditctl sync`.
    pub command: String,
    /// Refuse or wait when the lock is held.
    pub wait: LockWait,
}

impl LockRequest {
    /// A request that refuses when the lock is held.
    pub fn refuse(command: impl Into<String>) -> Self {
        LockRequest {
            command: command.into(),
            wait: LockWait::Refuse,
        }
    }

    /// The holder line this process writes: pid, command, start time.
    pub(crate) fn holder_line(&self) -> String {
        format!(
            "pid {} ({}) since {}",
            std::process::id(),
            self.command,
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// The exclusive lock on a data directory; released on drop (and by the
/// kernel if the process dies).
#[derive(Debug)]
pub struct WriteLock {
    file: File,
    path: PathBuf,
}

impl WriteLock {
    /// Takes the lock on `data_dir` (created if absent). With
    /// [`LockWait::Refuse`] a held lock is [`StoreError::Locked`], naming
    /// the holder; with [`LockWait::Wait`] this blocks until it is free.
    pub fn acquire(data_dir: &Path, request: &LockRequest) -> Result<WriteLock, StoreError> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        // Not truncated on open: the holder's line must survive a refused
        // asker.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                if request.wait == LockWait::Refuse {
                    return Err(StoreError::Locked {
                        what: path.display().to_string(),
                        holder,
                    });
                }
                tracing::info!(
                    "waiting for the lock on {}: held by {holder}",
                    path.display()
                );
                FileExt::lock(&file).map_err(io)?;
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        let line = request.holder_line();
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| file.flush())
            .map_err(io)?;
        Ok(WriteLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // The holder line is cleared so a later reader does not blame a
        // process that has finished; closing the file releases the lock.
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

/// The holder line of a held lock file; bounded, since it is only shown.
fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(512).read_to_string(&mut text);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        "another process (it has not written its name yet)".into()
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriteLock::acquire(dir.path(), &LockRequest::refuse("auditctl sync")).unwrap();
        let err =
            WriteLock::acquire(dir.path(), &LockRequest::refuse("auditctl weights")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("auditctl sync"), "{text}");
        assert!(text.contains("--wait"), "{text}");
        drop(first);
        WriteLock::acquire(dir.path(), &LockRequest::refuse("auditctl weights")).unwrap();
    }

    #[test]
    fn a_waiting_writer_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriteLock::acquire(dir.path(), &LockRequest::refuse("first")).unwrap();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let request = LockRequest {
                command: "second".into(),
                wait: LockWait::Wait,
            };
            WriteLock::acquire(&path, &request).map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!waiter.is_finished(), "the waiter must block while held");
        drop(first);
        waiter.join().unwrap().unwrap();
    }
}
