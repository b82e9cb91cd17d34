//! SIGTERM and SIGINT, for both commands: one listener started before any tool runs (so a
//! signal never finds a child to orphan), the count of signals so far (the daemon drains on
//! the first and stops at once on the second), and the conventional exit code, 128 + signal.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Why recproc cannot listen for a signal.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for {signal}")]
pub struct ListenError {
    signal: &'static str,
    source: std::io::Error,
}

/// The SIGTERM/SIGINT count, and the last signal's number.
#[derive(Debug, Clone)]
pub struct Signals {
    rx: watch::Receiver<(u32, i32)>,
}

impl Signals {
    /// Starts listening (do it before anything is started that a signal should stop). From
    /// here on, SIGTERM and SIGINT no longer end the process by themselves.
    pub fn listen() -> Result<Signals, ListenError> {
        let listen = |kind: SignalKind, name| {
            signal(kind).map_err(|source| ListenError {
                signal: name,
                source,
            })
        };
        let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
        let (tx, rx) = watch::channel((0, 0));
        tokio::spawn(async move {
            loop {
                let number = tokio::select! {
                    _ = term.recv() => libc::SIGTERM,
                    _ = int.recv() => libc::SIGINT,
                };
                tx.send_modify(|(count, last)| {
                    *count += 1;
                    *last = number;
                });
            }
        });
        Ok(Signals { rx })
    }

    /// Resolves when the first signal arrives (at once if one already has), to its number.
    pub async fn first(&mut self) -> i32 {
        self.reached(1).await;
        self.last()
    }

    /// How many signals have arrived.
    pub(crate) fn count(&self) -> u32 {
        self.rx.borrow().0
    }

    /// The number of the last signal that arrived (0 before the first).
    pub(crate) fn last(&self) -> i32 {
        self.rx.borrow().1
    }

    /// Resolves once at least `n` signals have arrived.
    pub(crate) async fn reached(&mut self, n: u32) {
        // The sender lives as long as the listening task, i.e. the runtime.
        let _ = self.rx.wait_for(|(count, _)| *count >= n).await;
    }
}

/// The conventional exit code of a process stopped by `signal`: 128 + its number.
pub fn exit_code(signal: i32) -> u8 {
    128 + signal as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_is_128_plus_the_signal() {
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGINT), 130);
    }
}
