//! `#[derive(IntoGleam, FromGleam)]`: exact shapes, round trips through
//! External Term Format, bignums, nesting, errors that name the field, and
//! the atoms each derived type lists.

use tally_interop::etf::{self, Term};
use tally_interop::{atoms_of, expected, DecodeError, FromGleam, IntoGleam, Step, Value};

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
struct UsageSample {
    customer: String,
    bytes: u64,
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
enum Window {
    Hour,
    Day,
    /// A tuple variant and a named one.
    Sliding(u32),
    Custom {
        start_ms: i64,
        end_ms: i64,
    },
}

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
#[gleam(tag = "fraction")]
struct Ratio {
    num: u128,
    den: u128,
}

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
struct Ledger {
    total: i128,
    parts: Vec<Ratio>,
    outcome: Result<Option<Vec<Window>>, Window>,
    done: (),
    #[gleam(bit_array)]
    digest: Vec<u8>,
    flags: Vec<bool>,
}

fn positive(n: &u32) -> Result<(), DecodeError> {
    if *n > 0 {
        Ok(())
    } else {
        Err(expected("a limit above 0"))
    }
}

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
#[gleam(expected = "Limits")]
struct Limits {
    #[gleam(check = "positive")]
    max_line: u32,
    #[gleam(expected = "a value from 0 to 255")]
    small: u8,
}

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
struct Empty;

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
struct Pair<A, B>(A, B);

#[derive(Debug, Clone, PartialEq, IntoGleam, FromGleam)]
enum Tree {
    Leaf(i64),
    Node(Vec<Tree>),
}

fn atom(a: &str) -> Term {
    Term::Atom(a.to_string())
}

fn bin(s: &str) -> Term {
    Term::Binary(s.as_bytes().to_vec())
}

/// Through ETF and back, as a port sees it.
fn round_trip<T: IntoGleam + FromGleam + Clone>(v: &T) -> (Term, T) {
    let term = etf::decode(&etf::encode(&v.clone().into_gleam()).unwrap()).unwrap();
    let back = T::from_gleam(&term).unwrap();
    (term, back)
}

#[test]
fn a_struct_is_a_record_tagged_with_its_name_in_snake_case() {
    let s = UsageSample {
        customer: "acme".into(),
        bytes: 42,
        note: None,
    };
    let (term, back) = round_trip(&s);
    assert_eq!(
        term,
        Term::Tuple(vec![
            atom("usage_sample"),
            bin("acme"),
            Term::Int(42),
            atom("none")
        ])
    );
    assert_eq!(back, s);
}

#[test]
fn enum_variants_are_bare_atoms_or_records() {
    assert_eq!(Window::Hour.into_gleam(), Value::Atom("hour"));
    assert_eq!(
        Window::Sliding(5).into_gleam(),
        Value::record("sliding", vec![Value::Int(5)])
    );
    assert_eq!(
        Window::Custom {
            start_ms: -1,
            end_ms: 2
        }
        .into_gleam(),
        Value::record("custom", vec![Value::Int(-1), Value::Int(2)])
    );
    for w in [
        Window::Hour,
        Window::Day,
        Window::Sliding(7),
        Window::Custom {
            start_ms: 0,
            end_ms: 1,
        },
    ] {
        assert_eq!(round_trip(&w).1, w);
    }
    assert_eq!(Empty.into_gleam(), Value::Atom("empty"));
    assert_eq!(round_trip(&Empty).1, Empty);
}

#[test]
fn integers_past_64_bits_are_bignums_both_ways() {
    let r = Ratio {
        num: u128::MAX,
        den: 1 << 64,
    };
    let (term, back) = round_trip(&r);
    assert_eq!(
        term,
        Term::Tuple(vec![
            atom("fraction"),
            Term::BigUint(u128::MAX),
            Term::Int(1 << 64)
        ])
    );
    assert_eq!(back, r);
    // A negative Int is no u128.
    let negative = Term::Tuple(vec![atom("fraction"), Term::Int(-1), Term::Int(1)]);
    assert_eq!(
        Ratio::from_gleam(&negative).unwrap_err().to_string(),
        "expected an Int that fits u128 at Ratio.num"
    );
}

#[test]
fn nested_option_result_list_nil_and_bit_array_round_trip() {
    let ledgers = [
        Ledger {
            total: i128::MIN,
            parts: vec![Ratio { num: 1, den: 3 }, Ratio { num: 0, den: 1 }],
            outcome: Ok(Some(vec![Window::Day, Window::Sliding(2)])),
            done: (),
            digest: vec![0, 255, 7],
            flags: vec![true, false],
        },
        Ledger {
            total: 0,
            parts: vec![],
            outcome: Ok(None),
            done: (),
            digest: vec![],
            flags: vec![],
        },
        Ledger {
            total: i128::MAX,
            parts: vec![],
            outcome: Err(Window::Hour),
            done: (),
            digest: b"x".to_vec(),
            flags: vec![],
        },
    ];
    for l in &ledgers {
        assert_eq!(&round_trip(l).1, l);
    }
    let (term, _) = round_trip(&ledgers[0]);
    let Term::Tuple(items) = term else {
        panic!("a record")
    };
    assert_eq!(items[0], atom("ledger"));
    assert_eq!(
        items[3],
        Term::Tuple(vec![
            atom("ok"),
            Term::Tuple(vec![
                atom("some"),
                Term::List(vec![
                    atom("day"),
                    Term::Tuple(vec![atom("sliding"), Term::Int(2)])
                ])
            ])
        ])
    );
    assert_eq!(items[4], atom("nil"));
    assert_eq!(items[5], Term::Binary(vec![0, 255, 7]), "a BitArray, not a list");
    assert_eq!(items[6], Term::List(vec![atom("true"), atom("false")]));
}

#[test]
fn generic_and_recursive_types() {
    let p = Pair(String::from("a"), Some(3u8));
    assert_eq!(round_trip(&p).1, p);
    let t = Tree::Node(vec![Tree::Leaf(1), Tree::Node(vec![Tree::Leaf(-2)])]);
    assert_eq!(round_trip(&t).1, t);
    assert_eq!(atoms_of::<Tree>(), ["leaf", "node"]);
}

#[test]
fn a_decode_error_names_the_field_and_keeps_the_boundary_text() {
    let bad_window = Term::Tuple(vec![
        atom("ledger"),
        Term::Int(1),
        Term::List(vec![]),
        Term::Tuple(vec![
            atom("ok"),
            Term::Tuple(vec![atom("some"), Term::List(vec![atom("day"), atom("week")])]),
        ]),
        atom("nil"),
        Term::Binary(vec![]),
        Term::List(vec![]),
    ]);
    let e = Ledger::from_gleam(&bad_window).unwrap_err();
    assert_eq!(e.expected, "a Window");
    assert_eq!(e.location(), "Ledger.outcome > [1]");
    assert_eq!(e.to_string(), "expected a Window at Ledger.outcome > [1]");
    assert_eq!(
        e.path().collect::<Vec<_>>(),
        [
            &Step::Field {
                owner: "Ledger",
                field: "outcome"
            },
            &Step::Item(1)
        ]
    );
    // At the boundary: Gleam's BadArgument(expected), the text alone.
    assert_eq!(
        e.into_gleam(),
        Value::record("bad_argument", vec![Value::binary("a Window")])
    );

    let in_variant = Term::Tuple(vec![atom("custom"), Term::Int(1), bin("late")]);
    assert_eq!(
        Window::from_gleam(&in_variant).unwrap_err().to_string(),
        "expected an Int that fits i64 at Window::Custom.end_ms"
    );
    let bad_bits = Term::Tuple(vec![
        atom("ledger"),
        Term::Int(1),
        Term::List(vec![]),
        Term::Tuple(vec![atom("ok"), atom("none")]),
        atom("nil"),
        Term::List(vec![]),
        Term::List(vec![]),
    ]);
    assert_eq!(
        Ledger::from_gleam(&bad_bits).unwrap_err().to_string(),
        "expected a BitArray at Ledger.digest"
    );
}

#[test]
fn wrong_tag_arity_or_kind_is_the_types_expected_text() {
    for t in [
        atom("usage_sample"),
        Term::Tuple(vec![atom("usage_sample"), bin("a"), Term::Int(1)]),
        Term::Tuple(vec![atom("other"), bin("a"), Term::Int(1), atom("none")]),
        Term::Int(3),
        Term::Tuple(vec![]),
    ] {
        assert_eq!(
            UsageSample::from_gleam(&t).unwrap_err(),
            expected("a UsageSample")
        );
    }
    assert_eq!(
        Window::from_gleam(&atom("week")).unwrap_err(),
        expected("a Window")
    );
    assert_eq!(
        Window::from_gleam(&Term::Tuple(vec![atom("hour"), Term::Int(1)])).unwrap_err(),
        expected("a Window"),
        "a unit variant is never a record"
    );
}

#[test]
fn field_checks_and_field_texts() {
    let limits = |max: i128, small: i128| Term::Tuple(vec![atom("limits"), Term::Int(max), Term::Int(small)]);
    assert_eq!(
        Limits::from_gleam(&limits(10, 3)),
        Ok(Limits {
            max_line: 10,
            small: 3
        })
    );
    let e = Limits::from_gleam(&limits(0, 3)).unwrap_err();
    assert_eq!(e.to_string(), "expected a limit above 0 at Limits.max_line");
    let e = Limits::from_gleam(&limits(-1, 3)).unwrap_err();
    assert_eq!(e.expected, "an Int that fits u32");
    let e = Limits::from_gleam(&limits(1, 256)).unwrap_err();
    assert_eq!(e.to_string(), "expected a value from 0 to 255 at Limits.small");
    assert_eq!(Limits::from_gleam(&atom("x")).unwrap_err(), expected("Limits"));
}

#[test]
fn each_derive_lists_its_atoms_and_its_fields() {
    assert_eq!(atoms_of::<UsageSample>(), ["none", "some", "usage_sample"]);
    assert_eq!(
        atoms_of::<Ledger>(),
        [
            "custom", "day", "error", "false", "fraction", "hour", "ledger", "nil", "none", "ok", "sliding",
            "some", "true"
        ]
    );
    let mut from = tally_interop::Atoms::default();
    <Window as FromGleam>::gleam_atoms(&mut from);
    assert_eq!(from.sorted(), ["custom", "day", "hour", "sliding"]);
    // The interop layer's own error type is derived too.
    assert_eq!(
        atoms_of::<tally_interop::InteropError>(),
        ["bad_term", "frame_too_large", "integer_range"]
    );
}

#[test]
fn the_interop_error_keeps_its_shape() {
    let e = tally_interop::InteropError::BadTerm {
        offset: 3,
        reason: "truncated term",
    };
    assert_eq!(
        e.into_gleam(),
        Value::record("bad_term", vec![Value::Int(3), Value::binary("truncated term")])
    );
    assert_eq!(
        tally_interop::InteropError::IntegerRange(-5).into_gleam(),
        Value::record("integer_range", vec![Value::Int(-5)])
    );
}
