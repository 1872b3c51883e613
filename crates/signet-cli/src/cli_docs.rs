//! `signet completions` and the hidden `signet man`: shell completion scripts and man pages
//! generated from the clap definition in `main.rs`, so neither can describe a CLI that no
//! longer exists.
//!
//! The man pages are committed under `docs/man/`; `tests/cli_docs.rs` regenerates them and
//! compares them byte for byte. Whoever changes the CLI refreshes them with
//! `cargo run --release -p signet-cli -- man --out docs/man`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Arg, ArgMatches, Command, ValueEnum, value_parser};

/// The shells `signet completions` writes a script for.
#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU bash (bash-completion).
    Bash,
    /// The Z shell.
    Zsh,
    /// The friendly interactive shell.
    Fish,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// Writes the completion script of `cmd` (the whole `signet` CLI) for `shell` to standard
/// output.
///
/// The script is rendered in memory first: clap_complete panics when a write fails, and a
/// closed pipe or a full disk must be an error, not a panic.
pub fn completions(shell: Shell, mut cmd: Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell.generator(), &mut cmd, "signet", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script to standard output")
}

/// The hidden `signet man --out DIR`: the maintainers' command that writes the man pages.
/// `main` adds it to the parser only, so neither the pages nor the completion scripts
/// mention it.
pub fn man_command() -> Command {
    Command::new("man")
        .hide(true)
        .about("Write one man page per command into a directory")
        .long_about(
            "Write one man page per command into a directory. After changing the CLI, \
             refresh the committed pages: cargo run --release -p signet-cli -- man --out \
             docs/man",
        )
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("DIR")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The directory to write the pages into (created if missing)"),
        )
}

/// Runs `signet man` (see [`man_command`]) for the CLI `cli`.
pub fn man(args: &ArgMatches, cli: Command) -> Result<ExitCode> {
    let out = args
        .get_one::<PathBuf>("out")
        .context("signet man: --out is required")?;
    man_pages(cli, out)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes one man page per visible command of `cmd` into `dir` (`signet.1`, `signet-init.1`,
/// `signet-admin-approve.1`, ...), creating `dir` if needed, and removes the `signet*.1`
/// pages there that no command has any more, so one run refreshes `docs/man` completely.
///
/// Every page's footer names the crate version and nothing else changes between runs (no
/// date), so regenerating an unchanged CLI changes no byte.
pub fn man_pages(cmd: Command, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = format!("signet {}", cmd.get_version().unwrap_or_default());
    // The implicit `help` subcommand is the same as `--help`: it gets no page.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = BTreeSet::new();
    write_pages(&cmd, dir, &source, &mut written)?;
    remove_stale_pages(dir, &written)
}

/// Writes the page of `cmd` and, depth first, those of its visible subcommands.
fn write_pages(
    cmd: &Command,
    dir: &Path,
    source: &str,
    written: &mut BTreeSet<String>,
) -> Result<()> {
    // `.TH title section date source manual`: the roff crate writes an empty argument as
    // nothing, which would shift the source into the date's place, so the date (there is
    // none: it would change every build) is an explicit empty string.
    let man = clap_mangen::Man::new(cmd.clone())
        .date("\"\"")
        .source(source)
        .manual("Signet Manual");
    let name = man.get_filename();
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("rendering {name}"))?;
    let page = String::from_utf8(page).with_context(|| format!("{name} is not UTF-8"))?;
    let path = dir.join(&name);
    std::fs::write(&path, ascii_roff(&page))
        .with_context(|| format!("writing {}", path.display()))?;
    written.insert(name);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, source, written)?;
    }
    Ok(())
}

/// `page` with every non-ASCII character written as a roff `\[uXXXX]` escape: troff reads
/// its input as Latin-1 unless a preprocessor says otherwise, so "–" in a help text would be
/// garbled by `groff -man` and refused by strict formatters.
fn ascii_roff(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// Removes the `signet*.1` files in `dir` that are not in `written`: the pages of commands
/// that were renamed or removed.
fn remove_stale_pages(dir: &Path, written: &BTreeSet<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("signet") && name.ends_with(".1") && !written.contains(name) {
            let path = entry.path();
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            eprintln!("removed {} (no such command any more)", path.display());
        }
    }
    Ok(())
}
