//! `recproc check-config`: validate everything `run` and `process` need (the configuration
//! was loaded by `main`; here the tools and their versions, the key, the broker and its
//! queues) and print the effective configuration, with what was found as `#` comments.

use std::process::ExitCode;

use recproc::amqp;
use recproc::config::Config;

pub(crate) async fn check_config(config: &Config) -> anyhow::Result<ExitCode> {
    let versions = super::check_tools(config).await?;
    let queues = amqp::check_broker(&config.amqp).await?;
    println!(
        "# recproc {} — configuration is valid",
        env!("CARGO_PKG_VERSION")
    );
    for v in &versions {
        println!("# {}: {}", v.tool, v.version);
    }
    match &config.encryption {
        Some(key) => println!(
            "# encryption: every media file to key {} ({})",
            key.fingerprint(),
            key.path().display()
        ),
        None => println!("# encryption: disabled"),
    }
    println!("# broker: connected to {}", config.amqp.url_redacted());
    for line in queues {
        println!("# {line}");
    }
    println!("{}", config.effective_toml());
    Ok(ExitCode::SUCCESS)
}
