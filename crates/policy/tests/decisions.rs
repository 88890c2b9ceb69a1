//! The decision table (`decisions.tsv`) against `decide`, for every combination of its columns.
//!
//! The table is the oracle: a hand-written first-match rule list, never computed by `decide`. This
//! test expands it to the full cross product, so a combination the table forgets, a row that never
//! matches, or a decision that differs from the table fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{CareState, Case, ConsentState};
use domain::{Action, BreakGlassId, Category, ConsentId, Purpose, Role};
use policy::{Basis, DenyReason, Law, Matrix, Outcome, decide};

const COLUMNS: [&str; 9] = [
    "role",
    "action",
    "category",
    "org",
    "purpose",
    "consent",
    "objection",
    "care",
    "break-glass",
];

/// A row: per column the allowed values (`None` = any), and the expected outcome.
struct Row {
    line: usize,
    cells: Vec<Option<Vec<String>>>,
    expect: Outcome,
}

fn column_values() -> Vec<Vec<&'static str>> {
    vec![
        Role::ALL.iter().map(|role| role.as_str()).collect(),
        Action::ALL.iter().map(|action| action.as_str()).collect(),
        Category::ALL
            .iter()
            .map(|category| category.as_str())
            .collect(),
        vec!["owner", "other"],
        Purpose::ALL
            .iter()
            .map(|purpose| purpose.as_str())
            .collect(),
        ConsentState::ALL.iter().map(|(_, name)| *name).collect(),
        vec!["yes", "no"],
        CareState::ALL.iter().map(|(_, name)| *name).collect(),
        vec!["yes", "no"],
    ]
}

fn parse_expect(text: &str, line: usize) -> Outcome {
    let consent = ConsentId::from_uuid(common::uuid(common::CONSENT));
    let grant = BreakGlassId::from_uuid(common::uuid(common::GRANT));
    match text.split_once(' ') {
        Some(("permit", "statutory:wmo2015")) => {
            Outcome::Permit(Basis::Statutory { law: Law::Wmo2015 })
        }
        Some(("permit", "consent")) => Outcome::Permit(Basis::Consent(consent)),
        Some(("permit", "break-glass")) => Outcome::Permit(Basis::BreakGlass(grant)),
        Some(("deny", code)) => Outcome::Deny(
            DenyReason::parse(code).unwrap_or_else(|| panic!("line {line}: unknown reason {code}")),
        ),
        _ => panic!("line {line}: cannot read expectation {text:?}"),
    }
}

fn read_table() -> Vec<Row> {
    let text = include_str!("decisions.tsv");
    let values = column_values();
    let mut rows = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        let line_no = line_idx + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            COLUMNS.len() + 1,
            "line {line_no}: wrong number of columns"
        );
        let mut cells = Vec::new();
        for (column_idx, field) in fields[..COLUMNS.len()].iter().enumerate() {
            if *field == "*" {
                cells.push(None);
                continue;
            }
            let listed: Vec<String> = field.split(',').map(str::to_owned).collect();
            for value in &listed {
                assert!(
                    values[column_idx].contains(&value.as_str()),
                    "line {line_no}: {value:?} is not a value of column {}",
                    COLUMNS[column_idx]
                );
            }
            cells.push(Some(listed));
        }
        rows.push(Row {
            line: line_no,
            cells,
            expect: parse_expect(fields[COLUMNS.len()], line_no),
        });
    }
    rows
}

fn case_from(values: &[&str]) -> Case {
    Case {
        role: Role::parse(values[0]).unwrap(),
        action: Action::parse(values[1]).unwrap(),
        category: Category::parse(values[2]).unwrap(),
        owner: values[3] == "owner",
        purpose: Purpose::parse(values[4]).unwrap(),
        consent: ConsentState::ALL
            .iter()
            .find(|(_, name)| *name == values[5])
            .unwrap()
            .0,
        objection: values[6] == "yes",
        care: CareState::ALL
            .iter()
            .find(|(_, name)| *name == values[7])
            .unwrap()
            .0,
        break_glass: values[8] == "yes",
    }
}

#[track_caller]
fn check(case: &Case, row_line: usize, want: Outcome) {
    let (actor, request, resident, facts) = common::build(case);
    let decision = decide(
        &Matrix::default(),
        &actor,
        &request,
        &resident,
        &facts,
        common::now(),
    );
    assert_eq!(
        decision.outcome(),
        want,
        "decisions.tsv line {row_line} expects {want:?} for {case:?}; decide gave {decision:?}"
    );
}

#[test]
fn every_combination_matches_the_table() {
    let rows = read_table();
    let values = column_values();
    let mut used = vec![0usize; rows.len()];
    let mut n_combinations = 0usize;
    let mut indices = vec![0usize; COLUMNS.len()];
    loop {
        let combination: Vec<&str> = indices
            .iter()
            .enumerate()
            .map(|(column, value)| values[column][*value])
            .collect();
        let row_idx = rows
            .iter()
            .position(|row| {
                row.cells
                    .iter()
                    .zip(&combination)
                    .all(|(cell, value)| match cell {
                        None => true,
                        Some(listed) => listed.iter().any(|listed_value| listed_value == value),
                    })
            })
            .unwrap_or_else(|| panic!("no row of decisions.tsv covers {combination:?}"));
        used[row_idx] += 1;
        n_combinations += 1;
        check(
            &case_from(&combination),
            rows[row_idx].line,
            rows[row_idx].expect,
        );

        // Next combination, odometer style.
        let mut column = COLUMNS.len();
        loop {
            if column == 0 {
                let expected: usize = values.iter().map(Vec::len).product();
                assert_eq!(n_combinations, expected);
                for (row, n_used) in rows.iter().zip(&used) {
                    assert!(
                        *n_used > 0,
                        "decisions.tsv line {} never matches: dead row",
                        row.line
                    );
                }
                return;
            }
            column -= 1;
            indices[column] += 1;
            if indices[column] < values[column].len() {
                break;
            }
            indices[column] = 0;
        }
    }
}
