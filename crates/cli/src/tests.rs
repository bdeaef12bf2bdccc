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

#[test]
fn geometry_names_are_the_records_names() {
    use clap::ValueEnum;
    let names: Vec<&str> = crate::geometry::GeometryArg::value_variants()
        .iter()
        .map(|g| {
            let value = g.to_possible_value().expect("every geometry can be named");
            assert_eq!(value.get_name(), g.name());
            g.name()
        })
        .collect();
    assert_eq!(names, records::GEOMETRIES);
}

#[test]
fn couplings_file_fields_are_checked() {
    use crate::couplings_file::CouplingsFile;
    let v = 16;
    let file = |extra: &str| {
        format!(
            "{{\"format\": \"qftml-couplings\", \"version\": 1, \"lattice\": [4, 4], \
             \"pair_set\": \"nearest-neighbour\", \"w\": {:?}, \"a\": {:?}, \"b\": {:?}, \"r\": {:?}{extra}}}",
            vec![1.0; 2 * v],
            vec![-1.0; v],
            vec![1.0; v],
            vec![0.0; v]
        )
    };
    let read = |text: String| serde_json::from_str::<CouplingsFile>(&text);
    let good = read(file("")).unwrap();
    assert_eq!(good.couplings.lattice, [4, 4]);
    assert!(good.couplings.couplings().is_ok());
    let unknown = read(file(", \"kapa\": 1.0")).unwrap_err().to_string();
    assert!(unknown.contains("kapa"), "{unknown}");
}
