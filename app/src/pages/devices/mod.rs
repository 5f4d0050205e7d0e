//! The Devices page: the devices a user may see, their channels and latest values, updated
//! live. Org admins also manage who may see each device and the device tokens.

mod access;
mod api;
mod card;
mod channel_form;
mod channels;
mod create;
mod tokens;
mod trend;

pub(crate) use access::AccessToggle;
pub use api::*;

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    components::{
        layout::use_me,
        status::{ErrorNotice, Loading},
    },
    errors::AppError,
};

use self::{
    access::AccessDialog,
    card::DeviceList,
    channels::{ChannelDialog, ChannelTarget, RemoveChannelDialog},
    create::{AddDeviceDialog, EditDeviceDialog},
    tokens::TokensDialog,
};

/// Which device a dialog is about.
pub(crate) type Target = RwSignal<Option<(i64, String)>>;

/// The page's dialogs, opened from a device's card by setting what they are about.
#[derive(Clone, Copy)]
pub(crate) struct Dialogs {
    access: Target,
    tokens: Target,
    editing: RwSignal<Option<DeviceView>>,
    channel: RwSignal<Option<ChannelTarget>>,
    remove_channel: RwSignal<Option<ChannelTarget>>,
}

#[component]
pub fn DevicesPage() -> impl IntoView {
    let me = use_me();
    let hydrated = crate::components::hydration::use_hydrated();
    let initial = Resource::new(|| (), |_| list_devices());
    let list = RwSignal::new(Vec::<DeviceView>::new());
    let poll_error = RwSignal::new(None::<AppError>);

    // Live values: poll while the page is open (browser only).
    #[cfg(feature = "hydrate")]
    {
        use std::time::Duration;
        let handle = set_interval_with_handle(
            move || {
                if document().hidden() {
                    return;
                }
                leptos::task::spawn_local(async move {
                    match list_devices().await {
                        Ok(v) => {
                            list.set(v);
                            poll_error.set(None);
                        }
                        Err(e) => poll_error.set(Some(e)),
                    }
                });
            },
            Duration::from_secs(2),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    }

    let dialogs = Dialogs {
        access: RwSignal::new(None),
        tokens: RwSignal::new(None),
        editing: RwSignal::new(None),
        channel: RwSignal::new(None),
        remove_channel: RwSignal::new(None),
    };
    let adding = RwSignal::new(false);

    view! {
        <Title text="Devices"/>
        <div class="page-head">
            <div>
                <h1>"Devices"</h1>
                <p class="muted">
                    "The devices you have access to, with each channel's latest value. Values update live."
                </p>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    me.await.is_ok_and(|m| m.is_org_admin).then(|| view! {
                        <button type="button" class="button primary" disabled=move || !hydrated.get() on:click=move |_| adding.set(true)>
                            "Add device"
                        </button>
                    })
                })}
            </Transition>
        </div>
        {move || poll_error.get().map(|e| view! { <ErrorNotice error=e/> })}
        <Suspense fallback=|| view! { <Loading what="Loading devices…"/> }>
            {move || Suspend::new(async move {
                let is_admin = me.await.map(|m| m.is_org_admin).unwrap_or(false);
                match initial.await {
                    Ok(devices) => {
                        list.set(devices);
                        Either::Left(view! {
                            <DeviceList list=list is_admin=is_admin dialogs=dialogs/>
                        })
                    }
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Suspense>
        <AccessDialog target=dialogs.access/>
        <TokensDialog target=dialogs.tokens devices=list/>
        <AddDeviceDialog open=adding tokens=dialogs.tokens/>
        <EditDeviceDialog editing=dialogs.editing/>
        <ChannelDialog target=dialogs.channel list=list/>
        <RemoveChannelDialog target=dialogs.remove_channel list=list/>
    }
}
