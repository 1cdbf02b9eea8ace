"""Pool files: round trips in the three formats, and every way a record can be refused.

A refused file raises PoolImportError naming the line and the field, and nothing of it is
returned.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from nexio_lite.verticals.carriers.carriers_io import (
    COLUMN_CHECKS,
    FIELD_CHECKS,
    KEPT_PROBLEMS,
    KEYS,
    PROGRESS_EVERY,
    PoolImportError,
    PoolProblem,
    carrier_from_dict,
    format_from_filename,
    parse_pool_file,
    write_csv,
    write_json,
    write_jsonl,
)
from nexio_lite.verticals.carriers.carriers_io import _Invalid as Invalid
from nexio_lite.verticals.carriers.pool import carrier_to_dict, generate_pool
from nexio_lite.verticals.carriers.schema import LINES, STATES, Carrier

Writer = Callable[[list[Carrier]], bytes]
WRITERS: dict[str, Writer] = {"jsonl": write_jsonl, "json": write_json, "csv": write_csv}


@pytest.fixture(scope="module")
def pool() -> list[Carrier]:
    return generate_pool()


@pytest.fixture
def rows(pool: list[Carrier]) -> list[dict[str, Any]]:
    """Five demo records as plain dicts, free to spoil."""
    return [carrier_to_dict(c) for c in pool[:5]]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def problems_of(data: bytes, fmt: str = "jsonl") -> list[str]:
    with pytest.raises(PoolImportError) as info:
        parse_pool_file(data, fmt)
    return [str(p) for p in info.value.problems]


def only_problem(rows: list[dict[str, Any]]) -> str:
    problems = problems_of(jsonl(rows))
    assert len(problems) == 1, problems
    return problems[0]


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_demo_pool_round_trips(pool: list[Carrier], fmt: str) -> None:
    assert parse_pool_file(WRITERS[fmt](pool), fmt) == pool


def test_jsonl_writer_is_the_canonical_serialization(pool: list[Carrier]) -> None:
    data = write_jsonl(pool)
    assert data.count(b"\n") == len(pool)
    assert data.startswith(b'{"carrier_id":"car_00001","name":')


def test_csv_has_the_section_3_columns_and_joined_lists(pool: list[Carrier]) -> None:
    header, first = write_csv(pool[:1]).decode().splitlines()
    assert tuple(header.split(",")) == KEYS
    assert "general_liability:target|cyber:standard|" in first
    assert ",AR|KY|LA|" in first


def test_csv_columns_may_come_in_any_order(pool: list[Carrier]) -> None:
    lines = write_csv(pool[:3]).decode().splitlines()
    table = [line.split(",") for line in lines]
    swapped = "\n".join(",".join([r[1], r[0], *r[2:]]) for r in table) + "\n"
    assert parse_pool_file(swapped.encode(), "csv") == pool[:3]


def test_blank_lines_are_ignored_in_jsonl(pool: list[Carrier]) -> None:
    data = b"\n" + write_jsonl(pool[:2]).replace(b"}\n", b"}\r\n\n", 1) + b"\n  \n"
    assert parse_pool_file(data, "jsonl") == pool[:2]


def test_utf8_bom_and_non_ascii_names_are_read(rows: list[dict[str, Any]]) -> None:
    rows[0]["name"] = "Zürich-frei Versicherung"
    data = "\ufeff".encode() + json.dumps(rows, ensure_ascii=False).encode()
    assert parse_pool_file(data, "json")[0].name == "Zürich-frei Versicherung"


def test_carrier_from_dict_reads_one_record(pool: list[Carrier]) -> None:
    assert carrier_from_dict(carrier_to_dict(pool[0])) == pool[0]


def test_field_checks_cover_section_3_in_order() -> None:
    assert tuple(FIELD_CHECKS) == KEYS
    assert len(KEYS) == 32


# --- refusals -------------------------------------------------------------------------------


def test_a_bad_row_is_reported_by_line_and_nothing_is_imported(
    rows: list[dict[str, Any]],
) -> None:
    rows[1]["max_revenue"] = "lots"
    with pytest.raises(PoolImportError) as info:
        parse_pool_file(jsonl(rows), "jsonl")
    assert str(info.value) == "line 2: max_revenue must be an integer"
    assert info.value.problems == [PoolProblem(2, "max_revenue must be an integer")]
    assert isinstance(info.value, ValueError)


def test_every_bad_row_is_listed_in_file_order(rows: list[dict[str, Any]]) -> None:
    rows[1]["segment"] = "mega"
    rows[3]["min_premium"] = -5
    assert problems_of(b"\n" + jsonl(rows)) == [
        "line 3: segment must be one of: national, regional, specialty, program, es",
        "line 5: min_premium must not be negative",
    ]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_line_numbers_in_json_and_csv(rows: list[dict[str, Any]], fmt: str) -> None:
    carriers = [carrier_from_dict(r) for r in rows]
    data = WRITERS[fmt](carriers).replace(b"car_00004", b"car_4")
    # json: "[" is line 1, record k on line k + 1; csv: header on line 1, the same.
    assert problems_of(data, fmt) == [
        "line 5: carrier_id must be 'car_' followed by 5 digits",
    ]


def test_json_elements_on_one_line_share_it(rows: list[dict[str, Any]]) -> None:
    rows[2]["status"] = "asleep"
    data = ("[" + json.dumps(rows[:2]).strip("[]") + ",\n" + json.dumps(rows[2]) + "]").encode()
    assert problems_of(data, "json") == ["line 2: status must be one of: active, runoff"]


def test_missing_and_unknown_keys(rows: list[dict[str, Any]]) -> None:
    del rows[0]["max_limit"]
    rows[0]["colour"] = "blue"
    assert problems_of(jsonl(rows)) == [
        "line 1: max_limit is required",
        "line 1: colour is not a recognized field",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_years_in_business", True, "min_years_in_business must be an integer"),
        ("max_limit", 1_000_000.0, "max_limit must be an integer"),
        ("max_claims_3yr", "3", "max_claims_3yr must be an integer"),
        ("rate_index", None, "rate_index must not be null"),
        ("name", "  ", "name must not be empty"),
        ("naic_code", "1234", "naic_code must be 5 digits or null"),
        ("domicile_state", "ca", "domicile_state must be one of: AK, AL,"),
        ("states", "CA", "states must be a list of strings"),
        ("states", ["CA", "XX"], "states holds 'XX', not an uppercase state code"),
        ("states", ["TX", "CA"], "states must be sorted, without duplicates"),
        ("states", ["CA", "CA"], "states must be sorted, without duplicates"),
        ("target_states", ["ZZ"], "target_states holds 'ZZ'"),
        ("lines", {}, "lines must name at least one line"),
        ("lines", ["bop"], "lines must be an object"),
        ("lines", {"eo": "target"}, "lines has 'eo', not a line id"),
        ("lines", {"bop": "keen"}, "lines.bop must be one of: target, standard, limited"),
        ("lines", {"bop": "target", "cyber": "limited"}, "lines must list its lines in canon"),
        ("naics_target", ["54", "5"], "naics_target holds '5', not a 2-6 digit NAICS prefix"),
        ("naics_excluded", ["6211", "5221"], "naics_excluded must be sorted"),
        ("am_best_rating", "AAA", "am_best_rating must be one of: A++, A+, A, A-,"),
        ("am_best_fsc", "XVI", "am_best_fsc must be one of: I, II,"),
        ("am_best_fsc", "viii", "am_best_fsc must be one of: I, II,"),
        ("rating_outlook", "sunny", "rating_outlook must be one of: stable,"),
        ("coverage_breadth", 1, "coverage_breadth must be a string"),
        ("binding_authority", "now", "binding_authority must be one of: instant,"),
        ("access", "mail", "access must be one of: direct, wholesale"),
        ("complaint_index_x100", -1, "complaint_index_x100 must not be negative"),
        ("data_as_of", "2025-02-30", "data_as_of must be a valid date YYYY-MM-DD"),
        ("data_as_of", "2025-6-30", "data_as_of must be a valid date YYYY-MM-DD"),
        ("carrier_id", "car_000001", "carrier_id must be 'car_' followed by 5 digits"),
    ],
)
def test_field_domains(rows: list[dict[str, Any]], field: str, value: Any, message: str) -> None:
    rows[2][field] = value
    problem = only_problem(rows)
    assert problem.startswith(f"line 3: {message}"), problem


def test_nullable_fields_accept_null(rows: list[dict[str, Any]]) -> None:
    for field in ("naic_code", "max_employees", "am_best_fsc", "rating_outlook"):
        rows[0][field] = None
    assert parse_pool_file(jsonl(rows), "jsonl")[0].max_employees is None


def test_target_states_must_be_within_states(rows: list[dict[str, Any]]) -> None:
    rows[0].update(states=["CA", "NY"], target_states=["NY", "TX"])
    assert only_problem(rows) == "line 1: target_states must be a subset of states"


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ((0, 100, 50, 60), None),
        ((0, 100, 60, 60), "band_max must be greater than band_min"),
        ((0, 100, 70, 60), "band_max must be greater than band_min"),
        ((10, 100, 5, 60), "band_min must be at least min_revenue"),
        ((0, 50, 10, 60), "max_revenue must be at least band_max"),
    ],
)
def test_revenue_band_order(
    rows: list[dict[str, Any]], bounds: tuple[int, int, int, int], message: str | None
) -> None:
    for key, value in zip(
        ("min_revenue", "max_revenue", "band_min", "band_max"), bounds, strict=True
    ):
        rows[0][key] = value
    if message is None:
        assert parse_pool_file(jsonl(rows), "jsonl")[0].band_max == 60
    else:
        assert only_problem(rows) == f"line 1: {message}"


def test_off_scale_ratings_have_no_fsc_and_nr_no_outlook(rows: list[dict[str, Any]]) -> None:
    rows[0].update(am_best_rating="E", am_best_fsc="VII", rating_outlook="negative")
    rows[1].update(am_best_rating="NR", am_best_fsc=None, rating_outlook="stable")
    assert problems_of(jsonl(rows)) == [
        "line 1: am_best_fsc must be null when am_best_rating is E",
        "line 2: rating_outlook must be null when am_best_rating is NR",
    ]


def test_duplicate_carrier_id_and_name(rows: list[dict[str, Any]]) -> None:
    rows[3]["carrier_id"] = rows[1]["carrier_id"]
    rows[4]["name"] = rows[0]["name"]
    assert problems_of(jsonl(rows)) == [
        "line 4: carrier_id 'car_00002' is already used on line 2",
        f"line 5: name {rows[0]['name']!r} is already used on line 1",
    ]


def test_a_repeated_key_in_one_object_is_refused(rows: list[dict[str, Any]]) -> None:
    text = json.dumps(rows[0])
    data = (text[:-1] + ', "status": "runoff"}\n').encode()
    assert problems_of(data) == ["line 1: invalid JSON: key 'status' appears twice in one object"]


def test_malformed_json_lines(rows: list[dict[str, Any]]) -> None:
    data = jsonl(rows[:1]) + b'{"carrier_id": \n' + b"[1, 2]\n" + b'{"x": NaN}\n'
    problems = problems_of(data)
    assert problems[0].startswith("line 2: invalid JSON: ")
    assert problems[1] == "line 3: a carrier record must be a JSON object"
    assert problems[2].startswith("line 4: invalid JSON: ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1}', "line 1: a .json pool file must hold one JSON array"),
        (b"[\n{}\n", "line 3: invalid JSON: expected ',' or ']' after an array element"),
        (b"[]", "line 1: the file holds no carriers"),
        (b"[] []", "line 1: invalid JSON: extra data after the array"),
        (b"[\n1 2]", "line 2: a carrier record must be a JSON object"),
    ],
)
def test_malformed_json_arrays(data: bytes, message: str) -> None:
    assert message in problems_of(data, "json")


def test_empty_files_hold_no_carriers() -> None:
    for fmt in ("jsonl", "json", "csv"):
        data = b"" if fmt != "json" else b"[]"
        assert problems_of(data, fmt) == ["line 1: the file holds no carriers"]


def test_invalid_utf8_is_refused_with_its_line(rows: list[dict[str, Any]]) -> None:
    data = jsonl(rows[:2]) + b'{"name": "\xff"}\n'
    assert problems_of(data) == ["line 3: the file is not valid UTF-8"]


def test_csv_header_must_hold_exactly_the_columns(pool: list[Carrier]) -> None:
    data = write_csv(pool[:2]).replace(b"max_limit,", b"max_lim,", 1)
    assert problems_of(data, "csv") == [
        "line 1: column max_limit is missing from the header",
        "line 1: column 'max_lim' is not a recognized field",
    ]


def test_csv_cells(pool: list[Carrier]) -> None:
    text = write_csv(pool[:3]).decode()
    header, *lines = text.splitlines()
    columns = header.split(",")
    cells = lines[1].split(",")
    cells[columns.index("min_premium")] = "1e3"
    cells[columns.index("lines")] = "bop:target|bop:limited"
    cells[columns.index("max_limit")] = ""
    lines[1] = ",".join(cells)
    lines[2] = lines[2] + ",extra"
    data = "\n".join([header, *lines]).encode()
    assert problems_of(data, "csv") == [
        "line 3: lines names 'bop' twice",
        "line 3: max_limit must not be null",
        "line 3: min_premium must be an integer",
        "line 4: the row has 33 cells, the header 32",
    ]


def test_csv_empty_list_cells_are_empty_lists(pool: list[Carrier]) -> None:
    no_naics = next(c for c in pool if not c.naics_target and not c.naics_excluded)
    assert ",,," in write_csv([no_naics]).decode()
    assert parse_pool_file(write_csv([no_naics]), "csv") == [no_naics]


def test_carrier_from_dict_lists_every_problem_of_a_record(rows: list[dict[str, Any]]) -> None:
    rows[0].update(status="x", max_limit=None)
    with pytest.raises(PoolImportError) as info:
        carrier_from_dict(rows[0])
    assert [str(p) for p in info.value.problems] == [
        "status must be one of: active, runoff",
        "max_limit must not be null",
    ]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("pool.csv", "csv"), ("a/b/pool.JSON", "json"), ("x.jsonl", "jsonl"), ("p.v2.jsonl", "jsonl")],
)
def test_format_from_filename(name: str, fmt: str) -> None:
    assert format_from_filename(name) == fmt


@pytest.mark.parametrize("name", ["pool.txt", "pool", "pool.json.gz", "csv"])
def test_format_from_filename_refuses_other_extensions(name: str) -> None:
    with pytest.raises(ValueError, match=r"\.csv, \.json or \.jsonl"):
        format_from_filename(name)


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="format"):
        parse_pool_file(b"", "xml")


# --- reports for a person -------------------------------------------------------------------


def test_a_report_of_one_problem_is_one_line(rows: list[dict[str, Any]]) -> None:
    rows[1]["max_revenue"] = "lots"
    with pytest.raises(PoolImportError) as info:
        parse_pool_file(jsonl(rows), "jsonl")
    assert info.value.total == 1
    assert info.value.report("pool.jsonl") == (
        "pool.jsonl: line 2: max_revenue must be an integer; nothing was imported"
    )


SEGMENT_PROBLEM = "segment must be one of: national, regional, specialty, program, es"


def test_a_report_lists_50_problems_with_their_lines_then_a_count(pool: list[Carrier]) -> None:
    rows = [carrier_to_dict(c) for c in pool[:60]]
    for row in rows:
        row["segment"] = "mega"
    rows[9]["rate_index"] = "cheap"  # a second problem on line 10
    with pytest.raises(PoolImportError) as info:
        parse_pool_file(jsonl(rows), "jsonl")
    lines = info.value.report("pool.jsonl").splitlines()
    assert lines[0] == "pool.jsonl: 61 problems, nothing was imported:"
    assert lines[1] == f"  line 1: {SEGMENT_PROBLEM}"
    assert lines[11] == "  line 10: rate_index must be an integer"
    assert len(lines) == 1 + 50 + 1
    assert lines[50].startswith("  line 49: ")
    assert lines[-1] == "  … and 11 more problems"


def test_a_report_of_at_most_the_limit_has_no_count(rows: list[dict[str, Any]]) -> None:
    rows[0]["status"] = "x"
    rows[4]["status"] = "y"
    with pytest.raises(PoolImportError) as info:
        parse_pool_file(jsonl(rows), "jsonl")
    assert info.value.report("p.jsonl", limit=2).splitlines() == [
        "p.jsonl: 2 problems, nothing was imported:",
        "  line 1: status must be one of: active, runoff",
        "  line 5: status must be one of: active, runoff",
    ]


def test_problems_kept_in_memory_are_capped_but_all_are_counted(pool: list[Carrier]) -> None:
    rows = [carrier_to_dict(c) for c in pool[:400]]
    for row in rows:
        row.update(segment="x", status="x", access="x")
    with pytest.raises(PoolImportError) as info:
        parse_pool_file(jsonl(rows), "jsonl")
    assert len(info.value.problems) == KEPT_PROBLEMS
    assert info.value.total == 1200
    assert info.value.report("p.jsonl").endswith("  … and 1,150 more problems")


@pytest.mark.parametrize(
    ("delimiter", "name"), [(";", "semicolons"), ("\t", "tabs"), ("|", "'|' characters")]
)
def test_a_csv_header_with_another_delimiter_gets_one_hint(
    pool: list[Carrier], delimiter: str, name: str
) -> None:
    """A spreadsheet saved with semicolons (or tabs, or '|') would otherwise get 32
    "missing column" problems; it gets one line that says what to do."""
    text = write_csv(pool[:3]).decode()
    header, *lines = text.splitlines()
    data = "\n".join([header.replace(",", delimiter), *lines]).encode()
    assert problems_of(data, "csv") == [
        f"line 1: the header's columns are separated by {name}, not commas: save the file "
        "as comma-separated CSV (lists inside a cell stay joined with '|')"
    ]


def test_a_quoted_semicolon_header_gets_the_hint_too(pool: list[Carrier]) -> None:
    header, *lines = write_csv(pool[:1]).decode().splitlines()
    quoted = ";".join(f'"{name}"' for name in header.split(","))
    problems = problems_of("\r\n".join([quoted, *lines]).encode(), "csv")
    assert len(problems) == 1
    assert "separated by semicolons" in problems[0]


def test_a_comma_header_missing_columns_gets_no_delimiter_hint(pool: list[Carrier]) -> None:
    data = write_csv(pool[:2]).replace(b"name,", b"", 1)
    problems = problems_of(data, "csv")
    assert problems[0] == "line 1: column name is missing from the header"
    assert not any("separated by" in p for p in problems)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_progress_is_reported_every_thousand_records_and_at_the_end(
    pool: list[Carrier], fmt: str
) -> None:
    seen: list[int] = []
    assert len(parse_pool_file(WRITERS[fmt](pool[:1500]), fmt, seen.append)) == 1500
    assert seen == [PROGRESS_EVERY, 1500]


# --- the checks of many values at once (COLUMN_CHECKS) --------------------------------------


def _check_outcome(check: Callable[[], list[Any]]) -> Any:
    try:
        values = check()
    except Invalid as exc:
        return ("invalid", str(exc))
    return values, [type(v) for v in values]


_ATOMS: list[Any] = [
    "CA", "NY", "AK", "WY", "ca", "", " ", "54", "5411", "541110", "1234567", "5a", 5411, None,
    True, 1.5, -3, ["CA"], {"a": 1}, "general_liability", "cyber", "bop", "umbrella", "target",
    "standard", "limited", "keen", "car_00001", "car_1", "12345", "1234", "IX", "A+", "active",
    "2025-06-30", "2025-02-30", "Acme", "\t",
]  # fmt: skip


def _random_value(rng: random.Random, field: str) -> Any:
    if field in ("states", "target_states", "naics_target", "naics_excluded"):
        pick = rng.random()
        if pick < 0.4:
            return sorted(rng.sample(STATES, rng.randint(0, 6)))
        if pick < 0.6:
            prefixes = ["11", "21", "5411", "541110", "62", "7225"]
            return sorted(rng.sample(prefixes, rng.randint(0, 4)))
        if pick < 0.95:
            return [rng.choice(_ATOMS) for _ in range(rng.randint(0, 4))]
        return rng.choice(_ATOMS)
    if field == "lines":
        pick = rng.random()
        if pick < 0.5:
            chosen = sorted(rng.sample(range(len(LINES)), rng.randint(0, 4)))
            return {LINES[i]: rng.choice(["target", "standard", "limited"]) for i in chosen}
        if pick < 0.95:
            keys = [*_ATOMS[:4], *LINES[:3]]
            return {rng.choice(keys): rng.choice(_ATOMS) for _ in range(rng.randint(0, 3))}
        return rng.choice(_ATOMS)
    return rng.choice([*_ATOMS, f"car_{rng.randint(0, 99999):05d}", f"{rng.randint(0, 99999):05d}"])


@pytest.mark.parametrize("field", KEYS)
def test_column_checks_give_what_the_field_checks_give(field: str) -> None:
    """Each column check returns the values the field check returns value by value (of
    the same types), or raises the field check's first problem."""
    rng = random.Random(field)
    check = FIELD_CHECKS[field]
    for _ in range(2_000):
        values = [_random_value(rng, field) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.5:  # mostly valid values
            values = [v for v in values if _valid(field, v)] or values
        expected = _check_outcome(partial(_each, check, field, values))
        assert _check_outcome(partial(COLUMN_CHECKS[field], field, values)) == expected, values


def _valid(field: str, value: Any) -> bool:
    try:
        FIELD_CHECKS[field](field, value)
    except Invalid:
        return False
    return True


def _each(check: Callable[[str, Any], Any], field: str, values: list[Any]) -> list[Any]:
    return [check(field, v) for v in values]
