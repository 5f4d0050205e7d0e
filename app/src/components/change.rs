//! A change the page asks the server for — a toggle, a delete, a registration: busy while it
//! runs, and what went wrong when it failed. One helper instead of a busy signal, an error
//! signal and a hand-written task at every button — and the one place that asks for the reason
//! of a change when the organisation requires one (see [`crate::components::reason`]).

use std::{cell::Cell, future::Future, pin::Pin, rc::Rc};

use leptos::prelude::*;

use crate::{
    components::reason::{use_reason_prompt, ReasonPrompt},
    errors::AppError,
};

/// An undo that runs at most once, whichever of two ways it is reached.
type SharedUndo = Rc<Cell<Option<Box<dyn FnOnce()>>>>;

/// A call under way, and what to do with its answer when it succeeds.
type PendingCall = Pin<Box<dyn Future<Output = Result<Box<dyn FnOnce()>, AppError>>>>;

fn undo_once(undo: &SharedUndo) {
    if let Some(undo) = undo.take() {
        undo()
    }
}

#[derive(Clone, Copy)]
pub struct Change {
    busy: RwSignal<bool>,
    error: RwSignal<Option<AppError>>,
    prompt: Option<ReasonPrompt>,
    /// The reason typed into this change's own confirmation, when it shows a field for it.
    reason: RwSignal<String>,
    has_reason_field: RwSignal<bool>,
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
            prompt: use_reason_prompt(),
            reason: RwSignal::new(String::new()),
            has_reason_field: RwSignal::new(false),
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

    /// Forgets the last error and any reason typed: a dialog opened for another subject starts
    /// empty.
    pub fn clear(self) {
        self.error.set(None);
        self.reason.set(String::new());
    }

    /// Makes a change: `call` gets the reason given for it (none unless the organisation
    /// requires reasons: then from this change's own reason field when its confirmation shows
    /// one, else asked for in the reason dialog — cancelling that runs `undo`). `then` gets the
    /// result when it succeeds, `undo` runs when it fails (a switch flipped ahead of the answer
    /// shows the truth again).
    pub fn run<T, F>(
        self,
        call: impl FnOnce(Option<String>) -> F + 'static,
        then: impl FnOnce(T) + 'static,
        undo: impl FnOnce() + 'static,
    ) where
        T: 'static,
        F: Future<Output = Result<T, AppError>> + 'static,
    {
        // Either the change runs (and undoes itself if it fails) or it is cancelled: the undo
        // is shared by both ways and runs at most once.
        let undo: SharedUndo = Rc::new(Cell::new(Some(Box::new(undo))));
        let on_failure = undo.clone();
        self.with_reason(
            Box::new(move |reason| self.call(call(reason), then, move || undo_once(&on_failure))),
            undo,
        );
    }

    /// Where the reason comes from (not generic: one copy for every change in the bundle).
    fn with_reason(self, go: Box<dyn FnOnce(Option<String>)>, undo: SharedUndo) {
        match self.prompt.filter(|p| p.required()) {
            None => go(None),
            Some(_) if self.has_reason_field.get_untracked() => {
                go(Some(self.reason.get_untracked()))
            }
            Some(prompt) => {
                self.error.set(None);
                prompt.ask(move |reason| go(Some(reason)), move || undo_once(&undo))
            }
        }
    }

    /// Runs a call that changes nothing worth a reason (a test event, a preview, marking
    /// notifications read); otherwise as [`Change::run`].
    pub fn call<T, F>(self, call: F, then: impl FnOnce(T) + 'static, undo: impl FnOnce() + 'static)
    where
        T: 'static,
        F: Future<Output = Result<T, AppError>> + 'static,
    {
        self.spawn(
            Box::pin(async move {
                call.await
                    .map(|value| Box::new(move || then(value)) as Box<dyn FnOnce()>)
            }),
            Box::new(undo),
        );
    }

    /// The call's life, once for every change: busy while it runs, then `then` or `undo`.
    fn spawn(self, call: PendingCall, undo: Box<dyn FnOnce()>) {
        self.busy.set(true);
        self.error.set(None);
        leptos::task::spawn_local(async move {
            let result = call.await;
            // Before `then`: it may leave the page, and these signals with it.
            self.busy.set(false);
            match result {
                Ok(then) => {
                    self.reason.set(String::new());
                    then()
                }
                Err(e) => {
                    undo();
                    self.error.set(Some(e));
                }
            }
        });
    }

    /// A "Reason for this change" field for the change's own confirmation, shown only when the
    /// organisation requires reasons; the change then takes its reason from here.
    pub fn reason_field(self) -> impl IntoView {
        self.has_reason_field.set(true);
        let prompt = self.prompt;
        move || {
            prompt.filter(|p| p.required_tracked()).map(|_| {
                view! {
                    <label class="field reason-field">
                        <span>"Reason for this change"</span>
                        <textarea
                            rows="2"
                            maxlength="500"
                            prop:value=move || self.reason.get()
                            on:input=move |ev| self.reason.set(event_target_value(&ev))
                            aria-invalid=move || self.field("reason").is_some().to_string()
                        ></textarea>
                        <span class="field-error" role="alert">{move || self.field("reason")}</span>
                    </label>
                }
            })
        }
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
            // A missing reason is told beside the reason field when the change shows one.
            let in_place: &[&str] = if self.shows_reason_field() {
                &["reason"]
            } else {
                &[]
            };
            self.error
                .get()
                .and_then(|e| e.general(in_place))
                .map(|message| view! { <p class=class role="alert">{message}</p> })
        }
    }

    fn shows_reason_field(self) -> bool {
        self.has_reason_field.get() && self.prompt.is_some_and(|p| p.required_tracked())
    }
}
