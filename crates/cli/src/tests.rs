use clap::CommandFactory;

use crate::Cli;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn help_texts() {
    let mut cmd = Cli::command();
    let mut help = Vec::new();
    for sub in cmd.get_subcommands_mut() {
        let name = sub.get_name().to_string();
        help.push(format!("--- {name} ---\n{}", sub.render_long_help()));
    }
    insta::assert_snapshot!(help.join("\n"));
}
