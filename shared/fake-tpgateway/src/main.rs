//! `fake-tpgateway [--bind 127.0.0.1:PORT] [--auth oauth|certificate]`:
//! starts the fake TPGateway, prints the secret document that configures a
//! client for it (JSON, on stdout), and serves until Ctrl-C. In certificate
//! mode the CA that clients must trust is printed on stderr.

use std::net::SocketAddr;
use std::process::ExitCode;

use tms_fake_tpgateway::{FakeConfig, FakeTpg};

const USAGE: &str = "usage: fake-tpgateway [--bind 127.0.0.1:PORT] [--auth oauth|certificate]";

fn parse_args() -> Result<(SocketAddr, FakeConfig), String> {
    let mut bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut cfg = FakeConfig::oauth();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match name.as_str() {
            "--bind" => {
                let v = value().ok_or("--bind needs an address")?;
                bind = v
                    .parse()
                    .map_err(|_| format!("--bind: not an IP:PORT address: {v}"))?;
            }
            "--auth" => match value().as_deref() {
                Some("oauth") => cfg = FakeConfig::oauth(),
                Some("certificate") => cfg = FakeConfig::certificate(),
                _ => return Err("--auth must be oauth or certificate".to_string()),
            },
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok((bind, cfg))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (bind, cfg) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let fake = match FakeTpg::start_on(cfg, bind).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-tpgateway: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serde_json::to_string_pretty(&fake.secret_json()) {
        Ok(doc) => println!("{doc}"),
        Err(e) => {
            eprintln!("fake-tpgateway: cannot print the secret document: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(ca) = fake.ca_pem() {
        eprintln!("Clients must trust this CA (certificate mode):\n{ca}");
    }
    tracing::info!(base_url = %fake.base_url(), "fake TPGateway serving; Ctrl-C stops it");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("fake-tpgateway: cannot wait for Ctrl-C: {e}");
    }
    fake.shutdown().await;
    ExitCode::SUCCESS
}
