//! The shutdown signal every task of the server waits on.

use tokio::sync::watch;

/// A shutdown signal every task can wait on.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// `true` once shutdown was asked for.
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Resolves once shutdown was asked for.
    pub async fn wait(&mut self) {
        // An error means the sender is gone: that is a shutdown too.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown was asked for.
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }
}

impl Shutdown {
    /// A signal that is set when `rx` turns `true` (or its sender is gone).
    pub fn new(rx: watch::Receiver<bool>) -> Shutdown {
        Shutdown { rx }
    }
}
