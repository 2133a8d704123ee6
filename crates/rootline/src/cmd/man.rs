//! `rootline man --out DIR`: manual pages in roff, generated from the clap
//! definitions: `rootline.1`, and one page per subcommand at every depth
//! (`rootline-verify.1`, `rootline-eventlog-replay.1`), named as `man`
//! finds them (`man rootline-verify`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

/// Flags of `rootline man`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Directory to write the pages into (created when missing), for
    /// example /usr/share/man/man1.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `rootline man`: prints each page written.
pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut cmd = crate::Cli::command();
    // Sets the subcommands' full names (`rootline-verify`) for their pages.
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, &a.out, &mut written)?;
    for p in written {
        println!("{}", p.display());
    }
    Ok(0)
}

/// Writes the page of `cmd`, then those of its subcommands.
fn write_pages(
    cmd: &clap::Command,
    dir: &std::path::Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    if cmd.is_hide_set() || cmd.get_name() == "help" {
        return Ok(());
    }
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut page)
        .with_context(|| format!("rendering {name}"))?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
