//! Behaviour of the built-in reference table: aliases, ambiguity, unknown values, additions.

use striae_firearms_lib::reference::EntryKind;
use striae_firearms_lib::{RefError, ReferenceAddition, ReferenceTable};

fn table() -> &'static ReferenceTable {
    ReferenceTable::builtin()
}

#[test]
fn builtin_data_loads() {
    let table = ReferenceTable::try_builtin().expect("built-in data must load");
    assert!(table.makes().len() >= 120, "makes: {}", table.makes().len());
    assert!(
        table.models().len() >= 300,
        "models: {}",
        table.models().len()
    );
    assert!(
        table.calibres().len() >= 100,
        "calibres: {}",
        table.calibres().len()
    );
    assert!(table.types().len() >= 7);
    println!(
        "makes={} models={} calibres={} types={}",
        table.makes().len(),
        table.models().len(),
        table.calibres().len(),
        table.types().len()
    );
}

fn make_id(raw: &str) -> Option<String> {
    table().normalise_make(raw).id
}

fn cal_id(raw: &str) -> Option<String> {
    table().normalise_caliber(raw).id
}

#[test]
fn make_aliases_share_one_canonical_entry() {
    for raw in [
        "S&W",
        "Smith & Wesson",
        "smith and wesson",
        "SMITH+WESSON",
        "Smith & Wesson Corp.",
    ] {
        assert_eq!(make_id(raw).as_deref(), Some("make:smith-wesson"), "{raw}");
    }
    for raw in [
        "H&K",
        "HK",
        "Heckler & Koch",
        "Heckler & Koch GmbH",
        "Heckler and Koch",
    ] {
        assert_eq!(make_id(raw).as_deref(), Some("make:hk"), "{raw}");
    }
    for raw in ["CZ", "Ceska Zbrojovka", "Česká zbrojovka", "CZ-UB"] {
        assert_eq!(make_id(raw).as_deref(), Some("make:cz"), "{raw}");
    }
    for raw in ["SIG Sauer", "Sig", "SIG-SAUER", "sigsauer"] {
        assert_eq!(make_id(raw).as_deref(), Some("make:sig-sauer"), "{raw}");
    }
    for raw in ["Izhmash", "Kalashnikov Concern", "Ижмаш"] {
        assert_eq!(make_id(raw).as_deref(), Some("make:izhmash"), "{raw}");
    }
    for raw in ["Ruger", "Sturm, Ruger", "Sturm, Ruger & Co.", "STURM RUGER"] {
        assert_eq!(make_id(raw).as_deref(), Some("make:ruger"), "{raw}");
    }
    let glock = table().normalise_make("  glock ges.m.b.h. ");
    assert_eq!(glock.canonical, "Glock");
    assert!(glock.known);
    for (raw, id) in [
        ("Walther", "make:walther"),
        ("Beretta", "make:beretta"),
        ("Norinco", "make:norinco"),
        ("Zastava", "make:zastava"),
        ("Taurus", "make:taurus"),
    ] {
        assert_eq!(make_id(raw).as_deref(), Some(id));
    }
}

#[test]
fn make_country_routes_traces() {
    assert_eq!(table().make_country("make:glock"), Some("AT"));
    assert_eq!(table().make_country("make:norinco"), Some("CN"));
    assert_eq!(table().make_country("make:zastava"), Some("RS"));
    assert_eq!(table().make_country("make:nonesuch"), None);
}

#[test]
fn nine_millimetre_parabellum_spellings_agree() {
    for raw in [
        "9x19mm",
        "9x19",
        "9 x 19 mm",
        "9×19",
        "9mm Luger",
        "9MM LUGER",
        "9mm Parabellum",
        "9mm NATO",
        "9 mm Para",
        "9mm Para",
        "9x19 NATO",
        "9 mm. Luger",
    ] {
        assert_eq!(cal_id(raw).as_deref(), Some("cal:9x19"), "{raw}");
    }
    assert_eq!(
        table().normalise_caliber("9 mm para").canonical,
        "9x19mm Parabellum"
    );
}

#[test]
fn three_eighty_is_never_nine_parabellum() {
    let short = [
        ".380 ACP",
        "380 Auto",
        "9x17mm",
        "9mm Kurz",
        "9mm Short",
        "9mm Browning Short",
        "9 mm kurz",
    ];
    for raw in short {
        assert_eq!(cal_id(raw).as_deref(), Some("cal:9x17"), "{raw}");
    }
    for raw in ["9x18mm", "9mm Makarov", "9x18 PM"] {
        assert_eq!(cal_id(raw).as_deref(), Some("cal:9x18"), "{raw}");
    }
    assert!(!table().calibres_related("cal:9x17", "cal:9x19"));
    assert!(!table().calibres_related("cal:9x18", "cal:9x19"));
}

#[test]
fn other_calibre_rules() {
    assert_eq!(cal_id(".45 ACP"), cal_id("11.43x23mm"));
    assert_eq!(cal_id("45 Auto").as_deref(), Some("cal:45-acp"));
    assert_eq!(cal_id("7.62x39").as_deref(), Some("cal:7.62x39"));
    assert_eq!(cal_id(".22 LR").as_deref(), Some("cal:22-lr"));
    assert_eq!(cal_id("22lr").as_deref(), Some("cal:22-lr"));
    for raw in [
        "12 gauge", "12 GA", "12ga", "12/70", "12/76", "cal. 12", "12 bore",
    ] {
        assert_eq!(cal_id(raw).as_deref(), Some("cal:12ga"), "{raw}");
    }
    assert_eq!(cal_id(".45 cal").as_deref(), None, ".45 alone is ambiguous");
    assert_eq!(cal_id(".40 cal").as_deref(), Some("cal:40-sw"));
}

#[test]
fn nato_and_commercial_twins_are_distinct_but_related() {
    let nato = cal_id("5.56x45mm NATO").unwrap_or_default();
    let rem = cal_id(".223 Rem").unwrap_or_default();
    assert_ne!(nato, rem);
    assert!(table().calibres_related(&nato, &rem));
    assert!(table().calibres_related(&rem, &nato));
    let nato = cal_id("7.62 NATO").unwrap_or_default();
    let win = cal_id(".308 Win").unwrap_or_default();
    assert_ne!(nato, win);
    assert!(table().calibres_related(&win, &nato));
}

#[test]
fn bare_nine_millimetre_is_flagged_ambiguous() {
    let nine = table().normalise_caliber("9mm");
    assert!(!nine.known);
    assert!(nine.ambiguous);
    assert_eq!(nine.id, None);
    assert_eq!(nine.canonical, "9MM");
    assert!(nine.suggestions.contains(&"9x19mm Parabellum".to_owned()));
    assert!(nine.suggestions.contains(&".380 ACP".to_owned()));
    assert!(table().normalise_caliber("9 MM").ambiguous);
}

#[test]
fn types_follow_the_taxonomy() {
    let ty = |raw: &str| table().normalise_type(raw).id;
    assert_eq!(ty("semi-automatic pistol").as_deref(), Some("type:pistol"));
    assert_eq!(ty("Pistol").as_deref(), Some("type:pistol"));
    assert_eq!(ty("SMG").as_deref(), Some("type:submachine-gun"));
    assert_eq!(
        ty("sub-machine gun").as_deref(),
        Some("type:submachine-gun")
    );
    assert_eq!(ty("carbine").as_deref(), Some("type:rifle"));
    assert_eq!(ty("Revolver").as_deref(), Some("type:revolver"));
    assert_eq!(ty("pump-action shotgun").as_deref(), Some("type:shotgun"));
    assert_eq!(ty("LMG").as_deref(), Some("type:machine-gun"));
    let handgun = table().normalise_type("Handgun");
    assert!(handgun.ambiguous && !handgun.known);
    assert_eq!(handgun.suggestions, vec!["pistol", "revolver"]);
}

#[test]
fn models_written_differently_agree() {
    let glock = Some("make:glock");
    for raw in [
        "17",
        "G17",
        "Glock 17",
        "glock-17",
        "G 17",
        "17 Gen5",
        "Glock 17 Gen 4",
    ] {
        let model = table().normalise_model(glock, raw);
        assert_eq!(model.id.as_deref(), Some("model:glock-17"), "{raw}");
        assert_eq!(model.canonical, "17");
    }
    let beretta = Some("make:beretta");
    assert_eq!(
        table().normalise_model(beretta, "92 FS").id,
        table().normalise_model(beretta, "Beretta 92FS").id
    );
    assert_eq!(
        table()
            .normalise_model(Some("make:cz"), "CZ-75")
            .id
            .as_deref(),
        Some("model:cz-75")
    );
    let akm = table().normalise_model(Some("make:izhmash"), "AKM");
    assert_eq!(akm.id.as_deref(), Some("model:akm"));
    let akm_elsewhere = table().normalise_model(Some("make:cugir"), "akm");
    assert_eq!(akm_elsewhere.id, akm.id);
    for raw in ["Makarov PM", "PM", "Makarov"] {
        assert_eq!(
            table().normalise_model(None, raw).id.as_deref(),
            Some("model:makarov-pm"),
            "{raw}"
        );
    }
    for raw in ["SKS", "SKS-45"] {
        assert_eq!(
            table().normalise_model(None, raw).id.as_deref(),
            Some("model:sks")
        );
    }
    assert_eq!(
        table().normalise_model(None, "Tokarev TT-33").id.as_deref(),
        Some("model:tt-33")
    );
    assert_eq!(
        table().normalise_model(None, "AK-47").id,
        table().normalise_model(None, "ak47").id
    );
}

#[test]
fn model_without_make_uses_a_leading_make_name_or_reports_ambiguity() {
    let found = table().normalise_model(None, "Glock 19");
    assert_eq!(found.id.as_deref(), Some("model:glock-19"));
    let shared = table().normalise_model(None, "17");
    assert!(shared.ambiguous);
    assert!(shared.suggestions.iter().any(|s| s.contains("Glock")));
}

#[test]
fn unknown_values_are_kept_with_suggestions() {
    let make = table().normalise_make("  Glcok  ");
    assert!(!make.known && !make.ambiguous);
    assert_eq!(make.canonical, "GLCOK");
    assert_eq!(make.id, None);
    assert!(make.suggestions.contains(&"Glock".to_owned()));
    assert!(make.suggestions.len() <= 5);

    let caliber = table().normalise_caliber("9x91mm");
    assert!(!caliber.known);
    assert!(!caliber.suggestions.is_empty(), "{caliber:?}");

    let model = table().normalise_model(Some("make:glock"), "177");
    assert!(!model.known);
    assert!(model.suggestions.contains(&"17".to_owned()), "{model:?}");

    let nothing = table().normalise_make("   ");
    assert!(!nothing.known && nothing.canonical.is_empty());
}

#[test]
fn every_entry_has_a_well_formed_unique_id() {
    let mut seen = std::collections::HashSet::new();
    let t = table();
    let ids = t
        .makes()
        .iter()
        .map(|m| &m.id)
        .chain(t.models().iter().map(|m| &m.id))
        .chain(t.calibres().iter().map(|c| &c.id))
        .chain(t.types().iter().map(|x| &x.id));
    for id in ids {
        assert!(seen.insert(id.clone()), "duplicate id {id}");
        assert!(EntryKind::of_id(id).is_some(), "{id}");
    }
    for make in t.makes() {
        assert_eq!(make.country.len(), 2, "{}", make.id);
    }
}

#[test]
fn additions_extend_the_table() {
    let additions = vec![
        ReferenceAddition::Make {
            id: "make:example-arms".into(),
            name: "Example Arms".into(),
            country: "FR".into(),
            aliases: vec!["ExArms".into()],
        },
        ReferenceAddition::Model {
            id: None,
            make_id: Some("make:example-arms".into()),
            name: "EX-1".into(),
            aliases: vec!["EX1".into()],
        },
        ReferenceAddition::Caliber {
            id: "cal:example".into(),
            name: "7x99mm Example".into(),
            aliases: vec![],
            related: vec!["cal:7x64".into()],
        },
        ReferenceAddition::Alias {
            target_id: "make:glock".into(),
            alias: "Glock Austria GmbH Deutsch-Wagram".into(),
        },
    ];
    let table = ReferenceTable::with_additions(&additions).expect("additions apply");
    assert_eq!(
        table.normalise_make("exarms").id.as_deref(),
        Some("make:example-arms")
    );
    assert_eq!(table.make_country("make:example-arms"), Some("FR"));
    assert_eq!(
        table
            .normalise_model(Some("make:example-arms"), "ex 1")
            .id
            .as_deref(),
        Some("model:example-arms-ex-1")
    );
    assert!(table.calibres_related("cal:7x64", "cal:example"));
    assert!(
        table
            .normalise_make("Glock Austria GmbH Deutsch-Wagram")
            .known
    );
    let json = serde_json::to_string(&additions[3]).unwrap_or_default();
    assert!(json.contains("\"kind\":\"alias\""));
}

#[test]
fn conflicting_additions_are_refused_and_leave_the_table_unchanged() {
    let mut table = ReferenceTable::builtin().clone();
    let conflict = table.add(ReferenceAddition::Alias {
        target_id: "make:beretta".into(),
        alias: "S & W".into(),
    });
    assert!(
        matches!(conflict, Err(RefError::AliasConflict { .. })),
        "{conflict:?}"
    );
    assert_eq!(
        table.normalise_make("S & W").id.as_deref(),
        Some("make:smith-wesson")
    );

    let ambiguous = table.add(ReferenceAddition::Alias {
        target_id: "cal:9x19".into(),
        alias: "9mm".into(),
    });
    assert!(matches!(ambiguous, Err(RefError::AmbiguousAlias { .. })));

    let same = table.add(ReferenceAddition::Alias {
        target_id: "make:smith-wesson".into(),
        alias: "S&W".into(),
    });
    assert_eq!(same, Ok(()));

    let bad_country = table.add(ReferenceAddition::Make {
        id: "make:x".into(),
        name: "X".into(),
        country: "France".into(),
        aliases: vec![],
    });
    assert!(matches!(bad_country, Err(RefError::Invalid { .. })));

    let long_name = table.add(ReferenceAddition::Make {
        id: "make:y".into(),
        name: "Y".repeat(101),
        country: "FR".into(),
        aliases: vec![],
    });
    assert!(matches!(long_name, Err(RefError::Invalid { .. })));

    let duplicate = table.add(ReferenceAddition::Make {
        id: "make:glock".into(),
        name: "Another Glock".into(),
        country: "AT".into(),
        aliases: vec![],
    });
    assert_eq!(duplicate, Err(RefError::DuplicateId("make:glock".into())));

    let unknown_make = table.add(ReferenceAddition::Model {
        id: None,
        make_id: Some("make:nonesuch".into()),
        name: "Z".into(),
        aliases: vec![],
    });
    assert_eq!(
        unknown_make,
        Err(RefError::UnknownId("make:nonesuch".into()))
    );

    let partial = table.add(ReferenceAddition::Make {
        id: "make:half".into(),
        name: "Half Arms Works".into(),
        country: "DE".into(),
        aliases: vec!["Glock".into()],
    });
    assert!(matches!(partial, Err(RefError::AliasConflict { .. })));
    assert!(table.make("make:half").is_none());
    assert_eq!(table.normalise_make("Half Arms Works").id, None);
}
