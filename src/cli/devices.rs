//! Devices from the command line: `create-device`, `add-source` and `list-devices`, under the
//! rules of `server::devices::manage` and `server::sources`.

use server::{
    devices::manage::{self, DeviceInput},
    domain::{
        channel_definition::{value_type_word, ChannelDefinition, ChannelInput},
        Reason,
    },
    orgs,
    sources::{self, MappingSpec},
};

pub(super) async fn create_device(
    database: server::db::Location,
    organisation: String,
    mut input: DeviceInput,
    channels: Vec<String>,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let reason = Reason::parse_optional("reason", reason.as_deref())?;
    for raw in &channels {
        let c = ChannelDefinition::parse_cli(raw).map_err(|e| anyhow::anyhow!("--channel {e}"))?;
        input.channels.push(ChannelInput::from(c));
    }
    let pool = server::db::connect(&database).await?;
    let org = orgs::find_organisation_by_name(&pool, &organisation)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no organisation named {organisation:?}"))?;
    let id = manage::create_from_command_line(&pool, org.id, &input, reason.as_ref())
        .await
        .map_err(super::command_line_error)?;
    println!(
        "Created device {:?} (id {id}) with {} channel{} in {:?}. Create its token on the Devices page.",
        input.name.trim(),
        input.channels.len(),
        if input.channels.len() == 1 { "" } else { "s" },
        org.name
    );
    Ok(())
}

pub(super) async fn add_source(
    database: server::db::Location,
    organisation: String,
    device: String,
    endpoint: String,
    mappings: Vec<String>,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let reason = Reason::parse_optional("reason", reason.as_deref())?;
    let mappings = mappings
        .iter()
        .map(|raw| MappingSpec::parse_cli(raw).map_err(|e| anyhow::anyhow!("--map {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pool = server::db::connect(&database).await?;
    let org = orgs::find_organisation_by_name(&pool, &organisation)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no organisation named {organisation:?}"))?;
    sources::add_from_command_line(
        &pool,
        org.id,
        &device,
        &endpoint,
        &mappings,
        reason.as_ref(),
    )
    .await
    .map_err(super::command_line_error)?;
    println!(
        "{:?} now reads {} variable{} from {}; a running server connects within seconds.",
        device.trim(),
        mappings.len(),
        if mappings.len() == 1 { "" } else { "s" },
        endpoint.trim()
    );
    Ok(())
}

pub(super) async fn list_devices(
    database: server::db::Location,
    organisation: String,
) -> anyhow::Result<()> {
    let pool = server::db::connect(&database).await?;
    let org = orgs::find_organisation_by_name(&pool, &organisation)
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no organisation named {organisation:?}"))?;
    let devices = manage::list_for_organisation(&pool, org.id).await?;
    if devices.is_empty() {
        println!(
            "{:?} has no devices yet (labhook create-device …).",
            org.name
        );
    }
    for d in devices {
        println!(
            "{}\t{}\t{}\t{}",
            d.device.id, d.device.name, d.device.device_class, d.device.status
        );
        for c in d.channels {
            let range = match (c.spec.min, c.spec.max) {
                (None, None) => String::new(),
                (lo, hi) => format!(
                    " [{}..{}]",
                    lo.map(|v| v.to_string()).unwrap_or_default(),
                    hi.map(|v| v.to_string()).unwrap_or_default()
                ),
            };
            let labels = if c.spec.enum_labels.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.spec.enum_labels.join("|"))
            };
            println!(
                "\t{}\t{}\t{}{range}{labels}",
                c.name,
                if c.unit.is_empty() {
                    "-"
                } else {
                    c.unit.as_str()
                },
                value_type_word(c.spec.value_type)
            );
        }
    }
    Ok(())
}
