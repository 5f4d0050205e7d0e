//! A change the page asks the server for — a toggle, a delete, a registration: busy while it
//! runs, and what went wrong when it failed. One helper instead of a busy signal, an error
//! signal and a hand-written task at every button.

use std::future::Future;

use leptos::prelude::*;

use crate::errors::AppError;

#[derive(Debug, Clone, Copy)]
pub struct Change {
    busy: RwSignal<bool>,
    error: RwSignal<Option<AppError>>,
}

impl Default for Change {
    fn default() -> Self {
        Self::new()
    }
}

impl Change {
    pub fn new() -> Self {
        Self {
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
        }
    }

    /// True while the call runs: buttons are disabled meanwhile (no double submits).
    pub fn busy(self) -> bool {
        self.busy.get()
    }

    /// The last call's error, if it failed (tracked).
    pub fn error(self) -> Option<AppError> {
        self.error.get()
    }

    /// The message of a field's error, for the form field it names.
    pub fn field(self, name: &str) -> Option<String> {
        self.error.with(|e| e.as_ref().and_then(|e| e.field(name)))
    }

    pub fn clear(self) {
        self.error.set(None);
    }

    /// Runs `call`; `then` gets its result when it succeeds, `undo` runs when it fails (a
    /// switch flipped ahead of the answer shows the truth again).
    pub fn run<T, F>(self, call: F, then: impl FnOnce(T) + 'static, undo: impl FnOnce() + 'static)
    where
        T: 'static,
        F: Future<Output = Result<T, AppError>> + 'static,
    {
        self.busy.set(true);
        self.error.set(None);
        leptos::task::spawn_local(async move {
            let result = call.await;
            // Before `then`: it may leave the page, and these signals with it.
            self.busy.set(false);
            match result {
                Ok(value) => then(value),
                Err(e) => {
                    undo();
                    self.error.set(Some(e));
                }
            }
        });
    }

    /// The error, where it should be read: an alert that screen readers announce.
    pub fn alert(self) -> impl IntoView {
        self.alert_styled("form-error")
    }

    /// The same, small, beside the control it is about (a row's switch or button).
    pub fn inline_alert(self) -> impl IntoView {
        self.alert_styled("field-error")
    }

    fn alert_styled(self, class: &'static str) -> impl IntoView {
        move || {
            self.error
                .get()
                .map(|e| view! { <p class=class role="alert">{e.to_string()}</p> })
        }
    }
}
