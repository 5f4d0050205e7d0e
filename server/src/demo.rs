//! Demo data for a first start: two organisations, so that isolation can be tried out.
//! The credentials are listed in the README.

use sqlx::SqlitePool;

use crate::{
    domain::{Email, Password, Role},
    orgs::{self, NewUser},
    Result,
};

pub const DEMO_ORGANISATION: &str = "Demo Lab";
pub const OTHER_ORGANISATION: &str = "Northwind Analytics";

/// (organisation, role, email, name, password)
pub const DEMO_USERS: &[(&str, Role, &str, &str, &str)] = &[
    (
        DEMO_ORGANISATION,
        Role::OrgAdmin,
        "admin@demo.lab",
        "Ada Admin",
        "demo-admin-pass",
    ),
    (
        DEMO_ORGANISATION,
        Role::LabUser,
        "lab@demo.lab",
        "Lars Labuser",
        "demo-lab-pass",
    ),
    (
        OTHER_ORGANISATION,
        Role::OrgAdmin,
        "admin@northwind.lab",
        "Nora Northwind",
        "other-admin-pass",
    ),
];

/// Fills an empty database with the demo organisations and users. Does nothing (and returns
/// false) when any organisation exists already: a real installation is never touched.
pub async fn seed_if_empty(pool: &SqlitePool) -> Result<bool> {
    if orgs::organisation_count(pool).await? > 0 {
        return Ok(false);
    }
    for org_name in [DEMO_ORGANISATION, OTHER_ORGANISATION] {
        let org = orgs::create_organisation(pool, org_name).await?;
        for (_, role, email, name, password) in DEMO_USERS.iter().filter(|u| u.0 == org_name) {
            orgs::create_user(
                pool,
                NewUser {
                    organisation_id: org.id,
                    email: Email::parse(email)?,
                    name: (*name).to_owned(),
                    role: *role,
                    password: Password::parse(password)?,
                },
            )
            .await?;
        }
    }
    tracing::info!("demo data created: see the README for the sign-in credentials");
    Ok(true)
}
