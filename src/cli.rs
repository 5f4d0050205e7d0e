//! Command-line interface: flags with environment-variable fallbacks, and the administration
//! subcommands for real installations.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand, ValueEnum};
use server::{config::LogFormat, devices::manage::DeviceInput};

mod admin;
mod devices;
mod migrate;
mod records;
mod serve;

/// A refusal from the server's rules, in the command line's words: a missing reason names the
/// flag that gives one.
fn command_line_error(e: server::Error) -> anyhow::Error {
    match &e {
        server::Error::Invalid(errors) if errors.iter().any(|f| f.field == "reason") => {
            anyhow::anyhow!("{e} Give it with --reason \"…\".")
        }
        _ => anyhow::anyhow!("{e}"),
    }
}

use self::{
    admin::{create_organisation, create_user, reset_password, switch_off_failing, UserArgs},
    devices::{add_source, create_device, list_devices},
    serve::{demo_lims, serve, ServeArgs},
};

#[derive(Parser)]
#[command(
    name = "labhook",
    version,
    about = "Webhook subscriptions for lab devices",
    // A flag given twice: the later one counts (scripts add to a base command line).
    args_override_self = true
)]
struct Cli {
    /// The SQLite database file (created, with its directory, when missing), also written
    /// `sqlite:FILE`; or a PostgreSQL database, `postgres://user@host/database`
    /// (docs/postgres.md).
    #[arg(
        long,
        env = "LABHOOK_DATABASE",
        default_value = "data/labhook.db",
        global = true
    )]
    database: server::db::Location,

    /// How log lines look.
    #[arg(long, env = "LABHOOK_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Text, global = true)]
    log_format: LogFormatArg,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormatArg {
    Text,
    Json,
}

/// Where the secrets key file is, for the records commands.
#[derive(Args, Clone)]
struct KeyFileArg {
    /// The server's secrets key file (default: beside the database, `<database>.secrets.key`).
    #[arg(long, env = "LABHOOK_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app (the default).
    Serve(ServeArgs),
    /// Create an organisation.
    CreateOrganisation {
        /// Its name, e.g. "QC Lab Basel".
        name: String,
    },
    /// Create a user in an existing organisation.
    CreateUser {
        #[arg(long)]
        organisation: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// org_admin or lab_user.
        #[arg(long, default_value = "lab_user")]
        role: String,
        /// The password; read from standard input when not given.
        #[arg(long, env = "LABHOOK_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Why (kept in the audit trail; required when the organisation requires reasons).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Create a device with its channels in an existing organisation.
    CreateDevice {
        #[arg(long)]
        organisation: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        vendor: String,
        #[arg(long, default_value = "")]
        model: String,
        /// One of Laboperator's device classes (Balance, Incubator, …, Custom).
        #[arg(long = "class", default_value = "Custom")]
        device_class: String,
        /// A channel as name:unit:type[:min:max]; type is number, text, yes_no or
        /// choice=label|label, followed by +replies when receivers' replies may write it
        /// (method::text+replies). Repeat for each channel.
        #[arg(long = "channel")]
        channels: Vec<String>,
        /// Why (kept in the audit trail; required when the organisation requires reasons).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Give a device an OPC UA source: its channels are then fed by the instrument's server,
    /// subscribed (docs/opcua.md). Security None, anonymous.
    AddSource {
        #[arg(long)]
        organisation: String,
        /// The device's name.
        #[arg(long)]
        device: String,
        /// The instrument's endpoint, opc.tcp://host[:port][/path].
        #[arg(long)]
        endpoint: String,
        /// A variable mapped to a channel: CHANNEL=NODE_ID[,sampling=MS][,deadband=X], e.g.
        /// Temperature=ns=2;s=Incubator.Temperature,deadband=0.1. Repeat for each channel.
        #[arg(long = "map")]
        mappings: Vec<String>,
        /// Why (kept in the audit trail; required when the organisation requires reasons).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List an organisation's devices and their channels.
    ListDevices {
        #[arg(long)]
        organisation: String,
    },
    /// Switch off now the subscriptions whose deliveries have all been failing (the rule the
    /// hourly sweep applies, here with thresholds of your choice), each with its notice.
    SwitchOffFailing {
        /// Failing for at least this many days (0: however recently the failures began).
        #[arg(long, default_value_t = 5)]
        after_days: u64,
        /// And at least this many failed deliveries.
        #[arg(long, default_value_t = 10)]
        min_failures: i64,
    },
    /// Set a new password for a user and end their sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// The new password; read from standard input when not given.
        #[arg(long, env = "LABHOOK_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Why (kept in the audit trail; required when the organisation requires reasons).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Copy this installation (--database, a SQLite file) into an empty PostgreSQL database:
    /// every table, verified by counting. Stop the server first.
    MigrateToPostgres {
        /// The PostgreSQL database: postgres://user:password@host/database
        #[arg(long)]
        to: String,
    },
    /// Print the installation's records public key (lhrk_…): all `verify-records --public-key`
    /// needs to check the chains' signatures.
    RecordsKey(KeyFileArg),
    /// Sign every chain head now (the server signs those that moved every hour).
    SignRecords(KeyFileArg),
    /// Walk every organisation's audit trail and delivery log chains and their signed
    /// checkpoints and removals; name the first row altered, deleted, inserted or reordered.
    /// Exits non-zero when a chain is not sound.
    VerifyRecords {
        /// The records public key to check signatures with (default: derived from the key file).
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        key: KeyFileArg,
    },
    /// Export one organisation's audit trail or delivery log for a time range as JSON Lines
    /// with the hashes and a signed seal (verify it with `labhook verify-export`).
    ExportRecords {
        #[arg(long)]
        organisation: String,
        /// Which records: audit (the audit trail) or deliveries (the delivery log's attempts).
        #[arg(long, value_parser = ["audit", "deliveries"])]
        chain: String,
        /// From this day (2026-12-01, UTC) or moment (RFC 3339), inclusive.
        #[arg(long)]
        from: String,
        /// Until this day or moment, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        /// jsonl (verifiable with verify-export) or pdf (for people; up to 5,000 records).
        #[arg(long, value_parser = ["jsonl", "pdf"], default_value = "jsonl")]
        format: String,
        /// Where to write it (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        key: KeyFileArg,
    },
    /// Check an export offline with nothing but the installation's records public key
    /// (`labhook records-key`): every link, checkpoint and removal, and the seal over the whole
    /// file. Exits non-zero naming the first line that was altered, added or removed.
    VerifyExport {
        /// The export (JSON Lines).
        file: PathBuf,
        /// The installation's records public key, lhrk_…
        #[arg(long)]
        public_key: String,
    },
    /// Run the demo's LIMS stand-in: it verifies the scanner's webhooks and answers each
    /// sample number with the sample's information (`make run` starts it).
    DemoLims {
        /// Where to listen: the demo's registered local receiver.
        #[arg(long, default_value = "127.0.0.1:9999")]
        listen: SocketAddr,
        /// The subscription's signing secret (whsec_…); the demo's is published in the README.
        #[arg(long, env = "LABHOOK_DEMO_LIMS_SECRET", default_value = server::demo::DEMO_LIMS_SECRET)]
        secret: String,
    },
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    server::telemetry::init(match cli.log_format {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    });
    let database = cli.database;
    let result = match cli.command {
        None => serve(database, cli.log_format, ServeArgs::default()).await,
        Some(Command::Serve(args)) => serve(database, cli.log_format, args).await,
        Some(Command::CreateOrganisation { name }) => create_organisation(database, name).await,
        Some(Command::CreateUser {
            organisation,
            email,
            name,
            role,
            password,
            reason,
        }) => {
            let user = UserArgs {
                organisation,
                email,
                name,
                role,
                password,
                reason,
            };
            create_user(database, user).await
        }
        Some(Command::CreateDevice {
            organisation,
            name,
            vendor,
            model,
            device_class,
            channels,
            reason,
        }) => {
            create_device(
                database,
                organisation,
                DeviceInput {
                    name,
                    vendor,
                    model,
                    device_class,
                    channels: vec![],
                },
                channels,
                reason,
            )
            .await
        }
        Some(Command::AddSource {
            organisation,
            device,
            endpoint,
            mappings,
            reason,
        }) => add_source(database, organisation, device, endpoint, mappings, reason).await,
        Some(Command::ListDevices { organisation }) => list_devices(database, organisation).await,
        Some(Command::SwitchOffFailing {
            after_days,
            min_failures,
        }) => switch_off_failing(database, after_days, min_failures).await,
        Some(Command::ResetPassword {
            email,
            password,
            reason,
        }) => reset_password(database, email, password, reason).await,
        Some(Command::DemoLims { listen, secret }) => demo_lims(listen, &secret).await,
        Some(Command::MigrateToPostgres { to }) => migrate::migrate_to_postgres(database, to).await,
        Some(Command::RecordsKey(k)) => records::print_key(database, k.secrets_key_file),
        Some(Command::SignRecords(k)) => records::sign(database, k.secrets_key_file).await,
        Some(Command::VerifyRecords { public_key, key }) => {
            records::verify(database, public_key, key.secrets_key_file).await
        }
        Some(Command::ExportRecords {
            organisation,
            chain,
            from,
            to,
            format,
            output,
            key,
        }) => {
            records::export(
                database,
                records::ExportArgs {
                    organisation,
                    chain,
                    from,
                    to,
                    pdf: format == "pdf",
                    output,
                },
                key.secrets_key_file,
            )
            .await
        }
        Some(Command::VerifyExport { file, public_key }) => {
            records::verify_export(&file, &public_key)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line (with its causes), never a panic trace.
            eprintln!("labhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}
