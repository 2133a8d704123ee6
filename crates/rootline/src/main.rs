//! The `rootline` command line: one binary, subcommands over the crates.
//!
//! `main` only parses flags and dispatches; each subcommand lives in `cmd/`.
//! Exit codes are a contract: 0 success or verified, 1 evidence checked and
//! rejected, 2 usage error or unreadable input.

/// mimalloc instead of glibc's malloc: the broker allocates and frees many
/// small JSON values per request from several threads, and glibc's arenas
/// spent about a tenth of a KBS handshake's CPU in malloc, free, consolidation
/// and mprotect (perf, `rootline bench kbs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: evidence checked and rejected (or a replay mismatch).
pub(crate) const EXIT_REJECTED: u8 = 1;
/// Exit code: usage error or unreadable input.
pub(crate) const EXIT_USAGE: u8 = 2;

/// rootline proves from a hardware root of trust that a confidential workload
/// is what its owner expects, and only then hands it its secrets.
///
/// Exit codes: 0 success / verified, 1 evidence checked and rejected,
/// 2 usage error or unreadable input.
#[derive(Parser)]
#[command(name = "rootline", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify evidence (SEV-SNP, TDX, SGX, TPM, the Azure and GCP vTPMs, Arm
    /// CCA, IBM Secure Execution, NVIDIA GPUs) against pinned vendor roots
    /// and the collateral given.
    Verify(cmd::verify::Args),
    /// Read, replay and check TCG event logs (TPM PC Client, TDX CCEL, IMA).
    #[command(subcommand)]
    Eventlog(cmd::eventlog::Command),
    /// Walk through the chain of trust on this machine, step by step.
    Demo(cmd::demo::Args),
    /// Run the key broker: KBS protocol for attested guests, admin API.
    Serve(cmd::serve::Args),
    /// Move fetched collateral (VCEKs, CRLs, TCB info) to an air-gapped
    /// verifier or broker: export a bundle, import it.
    #[command(subcommand)]
    Collateral(cmd::collateral::Command),
    /// Manage a broker: resources, resource policies, reference values, audit log.
    Admin(cmd::admin::Args),
    /// Attest this machine's TEE to a key broker (KBS protocol) and show the
    /// token it issues (exit 1 when the broker refuses).
    Attest(cmd::attest::Args),
    /// Attest, then fetch one secret from a key broker and decrypt it with
    /// the key that was attested (exit 1 when the broker refuses).
    GetResource(cmd::get_resource::Args),
    /// Measure verification cost against the raw signature floor.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
    /// Predict reference values from artifacts (a UKI's PCR 4, 9 and 11,
    /// SEV-SNP, SEV, SEV-ES launch digests, TDX MRTD).
    #[command(subcommand)]
    Measure(cmd::measure::Command),
    /// AMD SEV and SEV-ES launch attestation for the guest owner: verify
    /// the platform chain, start a session, check the launch measurement,
    /// and only then build the secret packet (docs/sev-launch.md).
    #[command(subcommand)]
    Sev(cmd::sev::Command),
    /// IBM Z Secure Execution for the relying party: verify host-key
    /// documents and create the attestation request whose secret
    /// `rootline verify --tee se` needs (docs/se.md).
    #[command(subcommand)]
    Se(cmd::se::Command),
    /// Reference values: the accepted measurements, with their history
    /// (add, list, delete, import), and golden values from a verified boot
    /// (record).
    Reference(cmd::reference::Args),
    /// Verify evidence, appraise it with a Rego policy against reference
    /// values, and sign the result as an EAR token (exit 0 only when
    /// affirming).
    Appraise(cmd::appraise::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::Args),
    /// Write manual pages: rootline.1 and one per subcommand.
    Man(cmd::man::Args),
}

/// Exit status for output cut short by a reader that closed the pipe
/// (`rootline ... | head`), as shells report a process that SIGPIPE ended.
const EXIT_CLOSED_PIPE: u8 = 141;

/// Whether a panic's payload is `println!`'s failure on a closed pipe.
fn is_closed_stdout(payload: &(dyn std::any::Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe")
}

/// Rust ignores SIGPIPE, so a write to a closed pipe fails, and `println!`
/// panics on that failure. Resetting SIGPIPE needs `unsafe`, which this
/// workspace forbids; instead that one panic is not reported, and `main`
/// catches it once the stack has unwound (so temporary directories and
/// child processes such as swtpm are cleaned up) and exits with
/// [`EXIT_CLOSED_PIPE`]. Every other panic is reported and goes on as before.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_closed_stdout(info.payload()) {
            report(info);
        }
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let run = std::panic::AssertUnwindSafe(|| match cli.command {
        Command::Verify(a) => cmd::verify::run(a),
        Command::Eventlog(c) => cmd::eventlog::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Collateral(c) => cmd::collateral::run(c),
        Command::Admin(a) => cmd::admin::run(a),
        Command::Attest(a) => cmd::attest::run(a),
        Command::GetResource(a) => cmd::get_resource::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Measure(c) => cmd::measure::run(c),
        Command::Sev(c) => cmd::sev::run(c),
        Command::Se(c) => cmd::se::run(c),
        Command::Reference(a) => cmd::reference::run(a),
        Command::Appraise(a) => cmd::appraise::run(a),
        Command::Completions(a) => cmd::completions::run(a),
        Command::Man(a) => cmd::man::run(a),
    });
    let result = match std::panic::catch_unwind(run) {
        Ok(r) => r,
        Err(payload) if is_closed_stdout(payload.as_ref()) => {
            return ExitCode::from(EXIT_CLOSED_PIPE);
        }
        Err(payload) => std::panic::resume_unwind(payload),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rootline: error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
