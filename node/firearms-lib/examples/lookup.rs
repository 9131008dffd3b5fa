//! Prints how the built-in table normalises values given on the command line:
//! `cargo run --example lookup -- caliber "9mm Para"` (kinds: make, model, caliber, type).

use striae_firearms_lib::ReferenceTable;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let table = ReferenceTable::builtin();
    let (Some(kind), Some(value)) = (args.first(), args.get(1)) else {
        eprintln!("usage: lookup make|model|caliber|type VALUE [MAKE_ID]");
        std::process::exit(2);
    };
    let result = match kind.as_str() {
        "make" => table.normalise_make(value),
        "model" => table.normalise_model(args.get(2).map(String::as_str), value),
        "caliber" => table.normalise_caliber(value),
        "type" => table.normalise_type(value),
        _ => {
            eprintln!("unknown kind `{kind}`: use make, model, caliber or type");
            std::process::exit(2);
        }
    };
    match serde_json::to_string_pretty(&result) {
        Ok(json) => println!("{json}"),
        Err(err) => {
            eprintln!("could not print the result: {err}");
            std::process::exit(1);
        }
    }
}
