//! The shell completions and man pages of `signet`, checked against the CLI they describe.
//!
//! - `docs/man` holds exactly the pages `signet man` writes now, byte for byte: a change to
//!   the CLI that forgets to refresh them fails here with the command that does ([`REFRESH`]).
//! - Every command that `signet ... --help` lists has a page, two runs write the same bytes
//!   (no date), and groff (the oracle) formats every page without a warning.
//! - bash sources the completion script, `complete -p signet` shows it registered, and its
//!   completion function offers `admin` for `signet ad`. zsh and fish are not installed here,
//!   so their scripts are checked as text: they name every subcommand.
//! - A completion script that cannot be written (a full disk) is an error, not a panic.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::oracle;

/// The command that refreshes `docs/man`, run from the workspace root.
const REFRESH: &str = "cargo run --release -p signet-cli -- man --out docs/man";

#[test]
fn committed_man_pages_match_the_cli() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let fresh = write_pages(tmp.path());
    let committed = read_pages(&docs_man());
    let mut problems = Vec::new();
    for (name, page) in &fresh {
        match committed.get(name) {
            None => problems.push(format!("docs/man/{name} is missing")),
            Some(old) if old != page => problems.push(format!(
                "docs/man/{name} is out of date ({})",
                first_difference(old, page)
            )),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|name| !fresh.contains_key(*name)) {
        problems.push(format!("docs/man/{name} describes no command any more"));
    }
    assert!(
        problems.is_empty(),
        "the man pages in docs/man do not match the CLI:\n  {}\n\
         Refresh them from the workspace root with\n  {REFRESH}\nand commit docs/man.",
        problems.join("\n  ")
    );
}

#[test]
fn every_command_has_a_page_and_every_run_writes_the_same_bytes() {
    let first = tempfile::tempdir().expect("temp dir");
    let second = tempfile::tempdir().expect("temp dir");
    let pages = write_pages(first.path());
    assert_eq!(
        pages,
        write_pages(second.path()),
        "two runs of `signet man` wrote different pages"
    );

    // The commands as clap's own help lists them, walked from the top.
    let mut expected = vec!["signet.1".to_owned()];
    let mut queue = vec![Vec::<String>::new()];
    while let Some(path) = queue.pop() {
        for sub in subcommands(&path) {
            let mut sub_path = path.clone();
            sub_path.push(sub);
            expected.push(format!("signet-{}.1", sub_path.join("-")));
            queue.push(sub_path);
        }
    }
    expected.sort();
    let written: Vec<String> = pages.keys().cloned().collect();
    assert_eq!(written, expected, "the pages are not one per command");
    for name in ["signet-init.1", "signet-serve.1", "signet-admin-approve.1"] {
        assert!(pages.contains_key(name), "no {name}");
    }
    // `signet man` is hidden and `help` is `--help`: neither has a page.
    assert!(!pages.contains_key("signet-man.1") && !pages.contains_key("signet-help.1"));

    // The title line carries the crate version and no date, and the pages are plain ASCII
    // (non-ASCII help text is written as roff escapes).
    let version = env!("CARGO_PKG_VERSION");
    for (name, page) in &pages {
        let text = std::str::from_utf8(page).expect("UTF-8 page");
        assert!(text.is_ascii(), "{name} is not ASCII");
        let title = text.lines().find(|l| l.starts_with(".TH ")).expect(".TH");
        let stem = name.trim_end_matches(".1");
        assert_eq!(
            title,
            format!(".TH {stem} 1 \"\" \"signet {version}\" \"Signet Manual\""),
            "{name}"
        );
    }
}

#[test]
fn groff_formats_every_page_without_a_warning() {
    if !oracle::available(
        "groff",
        Command::new("groff").arg("--version").output().is_ok(),
        "apt-get install groff-base",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let pages = write_pages(tmp.path());
    for name in pages.keys() {
        // -ww: every warning; -z: format, print nothing.
        let out = run(Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(tmp.path().join(name)));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff on {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The top page, as a reader sees it: plain text, no bold or underline overstriking.
    let out = run(Command::new("groff")
        .args(["-man", "-Tascii", "-P-cbou"])
        .arg(tmp.path().join("signet.1")));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "signet - Signet: an open-source certificate authority server",
        "SUBCOMMANDS",
        "signet-init(1)",
        "signet-admin(1)",
        "signet-completions(1)",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let footer = format!("signet {}", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&footer), "no {footer:?} in\n{text}");
}

#[test]
fn bash_registers_the_completion_and_completes_subcommands_and_flags() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let script = tmp.path().join("signet.bash");
    fs::write(&script, completion_script("bash")).expect("write the script");

    let out = run(Command::new("bash")
        .args([
            "--norc",
            "--noprofile",
            "-c",
            r#"source "$1" && complete -p signet"#,
        ])
        .arg("bash")
        .arg(&script));
    // e.g. `complete -o bashdefault -o default -o nosort -F _signet signet`.
    let spec = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = spec.split_whitespace().collect();
    assert!(
        out.status.success()
            && words.first() == Some(&"complete")
            && words.last() == Some(&"signet")
            && words
                .windows(2)
                .any(|w| w[0] == "-F" && w[1].starts_with('_')),
        "complete -p signet: {spec} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(bash_complete(&script, &["signet", "ad"]), ["admin"]);
    assert_eq!(
        bash_complete(&script, &["signet", "admin", "appr"]),
        ["approve"]
    );
    assert_eq!(
        bash_complete(&script, &["signet", "init", "--ke"]),
        ["--key", "--key-uri"]
    );
    let shells = bash_complete(&script, &["signet", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            shells.iter().any(|s| s == shell),
            "{shell} not in {shells:?}"
        );
    }
    let top = bash_complete(&script, &["signet", ""]);
    for sub in subcommands(&[]) {
        assert!(
            top.contains(&sub),
            "signet <TAB> does not offer {sub}: {top:?}"
        );
    }
    assert!(
        !top.iter().any(|s| s == "man"),
        "the hidden `man` is offered: {top:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    let zsh = String::from_utf8(completion_script("zsh")).expect("UTF-8");
    let fish = String::from_utf8(completion_script("fish")).expect("UTF-8");
    assert!(zsh.starts_with("#compdef signet"), "zsh: {zsh:.80}");
    assert!(fish.contains("complete -c signet "), "fish: {fish:.80}");
    for sub in subcommands(&[]).into_iter().chain(["approve".to_owned()]) {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh script lacks {sub}");
        assert!(
            fish.contains(&format!("-a \"{sub}\"")),
            "fish script lacks {sub}"
        );
    }
    assert!(!zsh.contains("'man:") && !fish.contains("-a \"man\""));
}

#[test]
fn a_completion_script_that_cannot_be_written_is_an_error_not_a_panic() {
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let out = run(signet().args(["completions", "bash"]).stdout(full));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: writing the completion script") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// The `signet` binary under test.
fn signet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_signet"))
}

/// The committed pages: `docs/man` at the workspace root.
fn docs_man() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man")
}

/// Runs `command` to completion, failing the test when it cannot start.
fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

/// Runs `signet man --out dir` and returns the pages it wrote.
fn write_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = run(signet().arg("man").arg("--out").arg(dir));
    assert!(
        out.status.success(),
        "signet man: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_pages(dir)
}

/// Every page (`*.1`) in `dir` by name.
fn read_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e}; write the pages with {REFRESH}",
            dir.display()
        )
    });
    entries
        .map(|entry| entry.expect("directory entry"))
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.ends_with(".1")
                .then(|| (name, fs::read(entry.path()).expect("read a page")))
        })
        .collect()
}

/// Where `old` and `new` first differ, as a line number and both lines.
fn first_difference(old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    for number in 1.. {
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (a, b) => {
                return format!(
                    "line {number}: committed {:?}, CLI {:?}",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                );
            }
        }
    }
    unreachable!("`1..` does not end")
}

/// The subcommands `signet <path> --help` lists, without `help`.
fn subcommands(path: &[String]) -> Vec<String> {
    let out = run(signet().args(path).arg("--help"));
    assert!(out.status.success(), "signet {path:?} --help");
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        // A command line is indented by two spaces; a wrapped description by more.
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// `signet completions <shell>`'s output.
fn completion_script(shell: &str) -> Vec<u8> {
    let out = run(signet().args(["completions", shell]));
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "signet completions {shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What bash offers for the command line `words` (the last one being completed), from the
/// function `script` registers with `complete -F`, called as bash's programmable completion
/// calls it.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    const DRIVER: &str = r#"
        source "$1"; shift
        spec=$(complete -p signet) || exit 1
        fn=${spec#*-F }; fn=${fn%% *}
        COMP_WORDS=("$@")
        COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        "$fn" signet "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = run(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", DRIVER, "bash"])
        .arg(script)
        .args(words));
    assert!(
        out.status.success(),
        "completing {words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}
