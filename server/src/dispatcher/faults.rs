//! Deliberate faults, for tests that prove the supervision (set through [`Faults::of`]);
//! nothing else sets them, and release builds do not have them (the `testing` feature).

use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc,
};

use crate::AppState;

#[derive(Default)]
pub struct Faults {
    /// The loop panics at the start of its next round.
    pub panic_in_loop: AtomicBool,
    /// This many of the next send tasks panic before their request.
    pub panicking_sends: AtomicU32,
}

impl Faults {
    pub fn of(state: &AppState) -> Arc<Faults> {
        state.part(|_| Faults::default())
    }

    /// Called at the start of each round of the loop.
    pub(super) fn at_loop_round(&self) {
        if self.panic_in_loop.swap(false, Ordering::Relaxed) {
            panic!("a deliberate fault (test)");
        }
    }

    /// Called by each send task before its request.
    pub(super) fn at_send(&self) {
        let panics = self
            .panicking_sends
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if panics.is_ok() {
            panic!("a deliberate fault in a send (test)");
        }
    }
}
