"""The canonical text behind the Idempotency-Key body hash (API.md §4): one text per
request, whatever its key order and white space, and never one text for two requests
whose values differ in type."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from nexio_lite.api.jobs import canonical_json
from nexio_lite.validation import parse_json_body


async def canon(text: str) -> str:
    return await canonical_json(parse_json_body(text.encode()))


@pytest.mark.parametrize(
    ("a", "b"),
    [('{"r": 0.5}', '{"r": "0.5"}'), ('{"r": 1.0}', '{"r": 1}'), ('{"r": 1.0}', '{"r": "1.0"}'),
     ('{"r": 1}', '{"r": "1"}'), ('{"r": 1}', '{"r": true}'), ('{"r": 0}', '{"r": false}'),
     ('{"r": null}', '{"r": "null"}'), ('{"r": 0.1}', '{"r": 0.10000000000000000000000000001}'),
     ('{"r": [0.5]}', '{"r": ["0.5"]}'), ('{"r": {"x": 2.5}}', '{"r": {"x": "2.5"}}'),
     ('{"r": 1e400}', '{"r": 1e401}'), ('{"r": -0.5}', '{"r": 0.5}')],
)  # fmt: skip
async def test_values_of_another_type_or_value_give_another_text(a: str, b: str) -> None:
    assert await canon(a) != await canon(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [('{"r": 1.5}', '{"r": 1.50}'), ('{"r": 1.5}', '{"r": 15e-1}'), ('{"r": 100.0}', '{"r": 1E2}'),
     ('{"r": 0.0}', '{"r": -0.0}'), ('{"r": 0.0}', '{"r": 0e9}'),
     ('{"a": 1, "b": [2.5, "x"]}', '{ "b" : [ 2.50 , "x" ] , "a" : 1 }')],
)  # fmt: skip
async def test_the_same_number_and_key_order_or_spacing_give_the_same_text(a: str, b: str) -> None:
    assert await canon(a) == await canon(b)


async def test_fractional_literals_are_written_as_json_numbers() -> None:
    text = await canon('{"b": [1.50, "1.5", {"c": -0.000120}], "a": 1e3}')
    assert text == '{"a":1E3,"b":[15E-1,"1.5",{"c":-12E-5}]}'
    assert json.loads(text) == {"a": 1000.0, "b": [1.5, "1.5", {"c": -0.00012}]}


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 5 and roll < 0.25:
        keys = ["a", "b", "é", "\u2028", "zz", "\x00", '"']
        return {rng.choice(keys) + str(rng.randint(0, 9)): _random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}  # fmt: skip
    if depth < 5 and roll < 0.5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice([None, True, False, rng.randint(-(10**30), 10**30),
                       "x\"\\\n\u00e9\U0001f600", ""])  # fmt: skip


async def test_a_body_without_fractions_keeps_the_text_hashed_before() -> None:
    """Hashes stored by the previous encoder (`json.dumps`, sorted, compact) still match
    for every body it hashed correctly, so a retry across an upgrade still replays."""
    rng = random.Random(8)
    for _ in range(500):
        value = {"k": _random_value(rng)}
        old = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        assert await canonical_json(value) == old


async def test_the_python_walk_writes_what_the_c_encoder_writes() -> None:
    """A value with one fraction takes the Python walk: everything else in it is written
    exactly as the C encoder writes it."""
    rng = random.Random(9)
    for _ in range(500):
        value = _random_value(rng)
        expected = json.dumps({"k": value, "z": "0.5"}, sort_keys=True, separators=(",", ":"))
        text = await canonical_json({"k": value, "z": parse_json_body(b"0.5")})
        assert text == expected.removesuffix('"0.5"}') + "5E-1}"


async def test_nesting_as_deep_as_the_parser_allows_is_written() -> None:
    depth = 900
    value = parse_json_body(('{"r": 0.5, "d": ' + "[" * depth + "]" * depth + "}").encode())
    text = await canonical_json(value)
    assert text == '{"d":' + "[" * depth + "]" * depth + ',"r":5E-1}'
