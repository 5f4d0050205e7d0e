//! Signing in, as the audit trail sees it: every attempt on an account — a sign-in, a wrong
//! password, a deactivated account refused — is recorded in its organisation (attempts on
//! unknown addresses belong to no organisation).

use std::net::IpAddr;

use crate::{
    audit::{self, Actor, AuditKind, Entry},
    auth::{self, CurrentUser, SessionToken},
    AppState, Error, Result,
};

/// Signs in (see [`auth::sign_in`]) and records the attempt when it was on an account.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(CurrentUser, SessionToken)> {
    let attempt = auth::attempt(state, email, password, client).await;
    let action = match &attempt.outcome {
        Ok(_) => "signed in",
        Err(Error::InvalidCredentials) => "sign-in failed",
        Err(Error::Forbidden(_)) => "sign-in refused (deactivated)",
        // Throttled or busy: nothing was checked.
        Err(_) => return attempt.outcome,
    };
    if let Some(account) = attempt.account {
        state
            .write(move |conn| {
                Box::pin(async move {
                    audit::record(
                        conn,
                        account.organisation_id,
                        Actor::Account(account.id, &account.name),
                        Entry {
                            kind: AuditKind::SignIn,
                            action,
                            subject: account.name.clone(),
                            before: None,
                            after: None,
                        },
                    )
                    .await
                })
            })
            .await?;
    }
    attempt.outcome
}
