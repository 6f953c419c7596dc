//! `picketctl`: query and administer a Picket controller.

use clap::Parser;
use picket_cli::{Cli, commands};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match commands::execute(&cli).await {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("picketctl: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
