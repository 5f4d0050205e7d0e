//! What the Users page reads and changes, and the set-password page's server functions: thin
//! doors onto `server::people`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Json;

use crate::errors::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonView {
    pub id: i64,
    pub name: String,
    pub email: String,
    /// org_admin or lab_user.
    pub role: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub deactivated: bool,
    /// Devices granted to them.
    pub devices: i64,
    /// The signed-in admin themself (who cannot lock themself out).
    pub is_me: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPersonInput {
    pub name: String,
    pub email: String,
    pub role: String,
}

/// A link to set a password, shown once: the page prefixes its own address to `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkView {
    pub path: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonDeviceView {
    pub device_id: i64,
    pub name: String,
    pub granted: bool,
}

#[cfg(feature = "ssr")]
impl From<server::people::PasswordLink> for LinkView {
    fn from(l: server::people::PasswordLink) -> Self {
        LinkView {
            path: l.path,
            expires_at: l.expires_at,
        }
    }
}

#[server(endpoint = "people/list")]
pub async fn list_people() -> Result<Vec<PersonView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let people = server::people::list(&state.pool, &user).await?;
    Ok(people
        .into_iter()
        .map(|p| PersonView {
            is_me: p.id == user.id,
            id: p.id,
            name: p.name,
            email: p.email,
            role: p.role.as_str().to_owned(),
            created_at: p.created_at,
            last_sign_in_at: p.last_sign_in_at,
            deactivated: p.deactivated,
            devices: p.devices,
        })
        .collect())
}

/// Adds a person; answers their id and the link to set their password (shown once).
#[server(endpoint = "people/add", input = Json)]
pub async fn add_person(
    input: NewPersonInput,
    reason: Option<String>,
) -> Result<(i64, LinkView), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let input = server::people::PersonInput {
        name: input.name,
        email: input.email,
        role: input.role,
    };
    let (id, link) = server::people::add(&state, &user, &input).await?;
    Ok((id, link.into()))
}

#[server(endpoint = "people/change_role")]
pub async fn change_role(
    user_id: i64,
    role: String,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::people::change_role(&state, &user, user_id, &role).await?;
    Ok(())
}

#[server(endpoint = "people/set_deactivated")]
pub async fn set_deactivated(
    user_id: i64,
    deactivated: bool,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::people::set_deactivated(&state, &user, user_id, deactivated).await?;
    Ok(())
}

/// Resets a password: answers the link to set a new one (shown once).
#[server(endpoint = "people/reset_password")]
pub async fn reset_password(user_id: i64, reason: Option<String>) -> Result<LinkView, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    Ok(server::people::reset_password(&state, &user, user_id)
        .await?
        .into())
}

/// The organisation's devices and which the person may see.
#[server(endpoint = "people/devices")]
pub async fn person_devices(user_id: i64) -> Result<Vec<PersonDeviceView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let devices = server::people::devices_of(&state.pool, &user, user_id).await?;
    Ok(devices
        .into_iter()
        .map(|d| PersonDeviceView {
            device_id: d.device_id,
            name: d.name,
            granted: d.granted,
        })
        .collect())
}

/// Whose password link this is (anyone holding the link may ask).
#[server(endpoint = "password/link")]
pub async fn password_link_owner(token: String) -> Result<String, AppError> {
    let state = crate::ssr::state()?;
    let client = crate::ssr::client_address(&state).await;
    Ok(server::people::link_owner(&state, &token, client).await?)
}

/// Sets a password with a one-time link (anyone holding the link).
#[server(endpoint = "password/set")]
pub async fn set_password(token: String, password: String) -> Result<(), AppError> {
    let state = crate::ssr::state()?;
    let client = crate::ssr::client_address(&state).await;
    server::people::set_password(&state, &token, &password, client).await?;
    Ok(())
}
