//! The administration commands for real installations: organisations, people, and the
//! operator's auto-disable sweep.

use std::{io::BufRead, time::Duration};

use super::command_line_error;

use server::{
    config::AutoDisable,
    domain::{parse_name, Email, Password, Reason, Role},
    orgs::{self, NewUser},
};

pub(super) async fn create_organisation(
    database: server::db::Location,
    name: String,
) -> anyhow::Result<()> {
    let pool = server::db::connect(&database).await?;
    let org = orgs::create_organisation(&pool, &name).await?;
    println!("Created organisation {:?} (id {}).", org.name, org.id);
    Ok(())
}

/// `create-user`'s flags.
pub(super) struct UserArgs {
    pub organisation: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password: Option<String>,
    pub reason: Option<String>,
}

pub(super) async fn create_user(
    database: server::db::Location,
    args: UserArgs,
) -> anyhow::Result<()> {
    let email = Email::parse(&args.email)?;
    let name = parse_name("name", &args.name, 100)?;
    let role = Role::parse(&args.role)?;
    let reason = Reason::parse_optional("reason", args.reason.as_deref())?;
    let password = Password::parse(&password_or_stdin(args.password)?)?;
    let pool = server::db::connect(&database).await?;
    let organisation = args.organisation;
    let org = orgs::find_organisation_by_name(&pool, &organisation)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no organisation named {organisation:?}"))?;
    let user = NewUser {
        organisation_id: org.id,
        email: email.clone(),
        name,
        role,
        password,
    };
    let id = server::people::create_user_from_command_line(&pool, user, reason.as_ref())
        .await
        .map_err(command_line_error)?;
    println!("Created {role} {email} in {:?} (id {id}).", org.name);
    Ok(())
}

pub(super) async fn reset_password(
    database: server::db::Location,
    email: String,
    password: Option<String>,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let email = Email::parse(&email)?;
    let reason = Reason::parse_optional("reason", reason.as_deref())?;
    let password = Password::parse(&password_or_stdin(password)?)?;
    let pool = server::db::connect(&database).await?;
    server::people::reset_password_from_command_line(&pool, &email, &password, reason.as_ref())
        .await
        .map_err(command_line_error)?;
    println!("The password of {email} was changed; their open sessions were ended.");
    Ok(())
}

pub(super) async fn switch_off_failing(
    database: server::db::Location,
    after_days: u64,
    min_failures: i64,
) -> anyhow::Result<()> {
    let rule = AutoDisable {
        after: Duration::from_secs(after_days * 86_400),
        min_failures: min_failures.max(1),
    };
    let pool = server::db::connect(&database).await?;
    let switched = server::subscriptions::auto_disable::sweep_from_command_line(
        &pool,
        rule,
        server::clock::now_ms(),
    )
    .await?;
    if switched.is_empty() {
        println!("No subscription has been failing that long; nothing was switched off.");
    }
    for (id, name) in switched {
        println!("Switched off {name:?} (id {id}); its owner and the org admins were notified.");
    }
    Ok(())
}

fn password_or_stdin(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    eprint!("Password (one line on standard input): ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
