//! A task that runs in the background until it is told to stop: the dispatcher and
//! housekeeping each hold one.

use std::future::Future;

use tokio::{sync::watch, task::JoinHandle};

/// A running background task and the switch that stops it.
pub struct Background {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Background {
    /// Spawns `run`, which is given the receiver that turns true when it must stop.
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(stopped));
        Self { stop, task }
    }

    /// Tells the task to stop and waits until it has.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
