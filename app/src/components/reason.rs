//! Reasons for changes. When the organisation requires one (Server Administration), every change
//! the pages make asks for it before it is sent: in the change's own confirmation where it has
//! one ([`crate::components::change::Change::reason_field`]), else in the one dialog here, which
//! the frame of every signed-in page holds. The server refuses a change without a reason either
//! way; asking first only spares the round trip.

use std::cell::RefCell;

use leptos::prelude::*;

use crate::components::modal::Modal;

/// What to do with the reason once given, and what to do when the person cancels instead.
struct Pending {
    go: Box<dyn FnOnce(String)>,
    cancel: Box<dyn FnOnce()>,
}

thread_local! {
    /// The change waiting for its reason: one at a time, in the browser's one thread (the
    /// server never asks, and a reactive value holding closures could not cross its threads).
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

fn take_pending() -> Option<Pending> {
    PENDING.with(|p| p.borrow_mut().take())
}

#[derive(Clone, Copy)]
pub struct ReasonPrompt {
    required: Signal<bool>,
    open: RwSignal<bool>,
    text: RwSignal<String>,
}

impl ReasonPrompt {
    /// Made once by the frame; `required` follows the organisation's setting.
    pub fn provide(required: Signal<bool>) -> Self {
        let prompt = Self {
            required,
            open: RwSignal::new(false),
            text: RwSignal::new(String::new()),
        };
        provide_context(prompt);
        prompt
    }

    pub fn required(self) -> bool {
        self.required.get_untracked()
    }

    /// A tracked read of the setting, for views that show a reason field only when needed.
    pub fn required_tracked(self) -> bool {
        self.required.get()
    }

    /// Opens the dialog; `go` gets the reason on CONFIRM, `cancel` runs otherwise.
    pub fn ask(self, go: impl FnOnce(String) + 'static, cancel: impl FnOnce() + 'static) {
        if let Some(earlier) = take_pending() {
            (earlier.cancel)();
        }
        PENDING.with(|p| {
            *p.borrow_mut() = Some(Pending {
                go: Box::new(go),
                cancel: Box::new(cancel),
            })
        });
        self.text.set(String::new());
        self.open.set(true);
    }

    fn answer(self, reason: Option<String>) {
        let Some(pending) = take_pending() else {
            return;
        };
        self.open.set(false);
        match reason {
            Some(reason) => (pending.go)(reason),
            None => (pending.cancel)(),
        }
    }
}

pub fn use_reason_prompt() -> Option<ReasonPrompt> {
    use_context::<ReasonPrompt>()
}

/// The dialog that asks, for changes without a confirmation of their own.
#[component]
pub fn ReasonDialog(prompt: ReasonPrompt) -> impl IntoView {
    let blank = move || prompt.text.with(|t| t.trim().is_empty());
    let confirm = move || {
        if !blank() {
            prompt.answer(Some(prompt.text.get_untracked()));
        }
    };
    // Closing by Escape or ✕ cancels the change (a switch flipped ahead shows the truth again).
    Effect::new(move |_| {
        if !prompt.open.get() {
            prompt.answer(None);
        }
    });
    view! {
        <Modal open=prompt.open title="Reason for this change" small=true>
            <form
                class="dialog-body"
                on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    confirm();
                }
            >
                <p class="muted">
                    "Your organisation requires a reason for every change. It is kept in the audit trail beside the change."
                </p>
                <label class="field">
                    <span>"Reason"</span>
                    <textarea
                        rows="3"
                        maxlength="500"
                        prop:value=move || prompt.text.get()
                        on:input=move |ev| prompt.text.set(event_target_value(&ev))
                    ></textarea>
                </label>
                <div class="dialog-foot">
                    <button type="button" class="button" on:click=move |_| prompt.answer(None)>"Cancel"</button>
                    <button type="submit" class="button primary caps" disabled=blank>"CONFIRM"</button>
                </div>
            </form>
        </Modal>
    }
}
