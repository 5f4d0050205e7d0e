//! "What may this user see": one rule, written once, for every query that lists or finds
//! something on a user's behalf. Org admins see their whole organisation; lab users their own
//! subscriptions (and so their deliveries) and the devices they were granted.
//!
//! The conditions expect the user bound first, as `?1` (organisation), `?2` (is org admin) and
//! `?3` (user id) — [`Scoped::scoped`] binds them — so a query's own parameters start at `?4`.

use sqlx::{
    query::{Query, QueryAs, QueryScalar},
    Database, Encode, Type,
};

use super::CurrentUser;

/// Subscription `s` is visible (a deleted one, whose history is being cleared away, to nobody).
pub const SUBSCRIPTION: &str =
    "s.organisation_id = $1 AND ($2 OR s.owner_id = $3) AND s.deleted_at IS NULL";

/// Device `d` is visible.
pub const DEVICE: &str = "d.organisation_id = $1 AND ($2 OR EXISTS (
       SELECT 1 FROM device_access a WHERE a.device_id = d.id AND a.user_id = $3))";

/// The owner `u` of a subscription may (still) see the device of event `e`: an active user who
/// is an org admin or was granted the device. Checked when an event is matched, when its
/// delivery is sent, when it is replayed and when the receiver's reply is written back — not
/// only when the subscription was saved. (The organisation is the caller's to match.)
pub const OWNER_SEES_EVENT_DEVICE: &str = "(u.deactivated_at IS NULL AND (u.role = 'org_admin'
       OR EXISTS (SELECT 1 FROM device_access a WHERE a.user_id = u.id AND a.device_id = e.device_id)))";

/// Binds the user as the conditions above expect: call it before binding anything else.
pub trait Scoped: Sized {
    fn scoped(self, user: &CurrentUser) -> Self;
}

macro_rules! scoped_for {
    ($($query:ident $(<$($g:ident),*>)?),*) => {$(
        impl<'q, DB: Database, $($($g),*)?> Scoped for $query<'q, DB, $($($g,)*)? <DB as Database>::Arguments<'q>>
        where
            i64: Encode<'q, DB> + Type<DB>,
            bool: Encode<'q, DB> + Type<DB>,
        {
            fn scoped(self, user: &CurrentUser) -> Self {
                self.bind(user.organisation_id)
                    .bind(user.is_org_admin())
                    .bind(user.id)
            }
        }
    )*};
}

// On either engine.
scoped_for!(Query, QueryAs<O>, QueryScalar<O>);
