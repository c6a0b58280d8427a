//! SIGINT and SIGTERM, for every command. A command that ends on a signal
//! by design (`run`, `devnet serve`, `synth --every`) is told through
//! [`Stop`] and finishes its own way; it is dropped anyway after
//! [`GRACEFUL_LIMIT`] or at a second signal. Any other command is dropped
//! at the first signal: whatever it was waiting on (a stalled peer, a
//! lock), the process ends within seconds. Dropping is safe because every
//! catalog write is a transaction and every lake file is renamed into
//! place: what was not finished is not there.

use std::time::Duration;

use tokio::sync::watch;

/// The signal that stopped the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a supervisor stopping the process).
    Terminate,
}

impl Signal {
    /// The signal's usual name, as a message shows it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// How long a command that stops on a signal by design may take to stop
/// before it is dropped: with the runtime's shutdown, under the 10 s a
/// supervisor waits before SIGKILL.
pub const GRACEFUL_LIMIT: Duration = Duration::from_secs(7);

/// A command's view of the signals: whether it has been asked to stop.
#[derive(Clone)]
pub struct Stop(watch::Receiver<Option<Signal>>);

impl Stop {
    /// Resolves once a signal asked the command to stop.
    pub async fn requested(&mut self) {
        // A dropped sender means no signal can come any more: never resolve.
        if self.0.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts listening (inside the runtime). Returns the command's [`Stop`]
/// and a future that resolves with the signal once the command must be
/// dropped: at the first signal when `graceful` is false, else after
/// [`GRACEFUL_LIMIT`] or at a second signal.
pub fn listen(graceful: bool) -> (Stop, impl std::future::Future<Output = Signal>) {
    let (asked, stop) = watch::channel(None);
    let drop_command = async move {
        let mut signals = Signals::new();
        let first = signals.next().await;
        tracing::info!("{}: stopping", first.name());
        let _ = asked.send(Some(first));
        if graceful {
            tokio::select! {
                _ = signals.next() => {}
                _ = tokio::time::sleep(GRACEFUL_LIMIT) => {}
            }
        }
        first
    };
    (Stop(stop), drop_command)
}

/// The two signals as one stream.
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let unix = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            Signals { unix }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.unix {
            return tokio::select! {
                _ = term.recv() => Signal::Terminate,
                _ = int.recv() => Signal::Interrupt,
            };
        }
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Interrupt,
            // No way to hear a signal: the default action still ends us.
            Err(_) => std::future::pending().await,
        }
    }
}
