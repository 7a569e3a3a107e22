"""parse_frame: every error path per version, and encode/parse round trips."""

from __future__ import annotations

import orjson
import pytest

from ocppd.protocol import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    OcppVersion,
    Send,
    parse_frame,
)
from ocppd.protocol.frames import MAX_MESSAGE_ID_LENGTH, MAX_PAYLOAD_DEPTH, UNKNOWN_MESSAGE_ID, message_types

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL = [V16, V201, V21]
# What a framing error is called on the wire: 1.6 has no RpcFrameworkError.
FRAMEWORK = {V16: "FormationViolation", V201: "RpcFrameworkError", V21: "RpcFrameworkError"}
FORMAT = {V16: "FormationViolation", V201: "FormatViolation", V21: "FormatViolation"}


def fail(text: str | bytes, version: OcppVersion) -> FrameError:
    with pytest.raises(FrameError) as info:
        parse_frame(text, version)
    return info.value


def answer_of(text: str | bytes, version: OcppVersion) -> list:
    """The decoded CALLERROR / CALLRESULTERROR a bad frame gets (asserting there is one)."""
    error = fail(text, version)
    assert error.answer is not None, error.reason
    decoded = orjson.loads(error.answer.encode())
    assert len(decoded) == 5 and isinstance(decoded[3], str) and decoded[4] == {}
    return decoded


# ------------------------------------------------------------------ unparseable: CALLERROR with id "-1"
@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize(
    "text",
    ["not json", "[2, 'single quotes', 'A', {}]", '[2, "a", "B", {}', "", b"\xff\xfe[]", "[2,]"],
    ids=["garbage", "single-quotes", "truncated", "empty-string", "bad-utf8", "trailing-comma"],
)
def test_invalid_json_answers_with_unknown_id(version, text):
    assert answer_of(text, version)[:3] == [4, UNKNOWN_MESSAGE_ID, FRAMEWORK[version]]


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("text", ["{}", '{"0": 2}', '"text"', "42", "null", "true", "[]"])
def test_not_an_array_or_empty_array(version, text):
    assert answer_of(text, version)[:3] == [4, UNKNOWN_MESSAGE_ID, FRAMEWORK[version]]


# ------------------------------------------------------------------ message type id
@pytest.mark.parametrize("type_id", ['"2"', "2.0", "true", "null", "[2]", "{}", "0", "1", "7", "99", "-2"])
def test_unknown_or_non_integer_type_201_answers_message_type_not_supported(type_id):
    decoded = answer_of(f'[{type_id}, "m-1", "Heartbeat", {{}}]', V201)
    assert decoded[:3] == [4, "m-1", "MessageTypeNotSupported"]


@pytest.mark.parametrize("version", [V16, V21])
@pytest.mark.parametrize("type_id", ['"2"', "2.0", "true", "null", "0", "1", "7", "99"])
def test_unknown_or_non_integer_type_16_and_21_ignored(version, type_id):
    assert fail(f'[{type_id}, "m-1", "Heartbeat", {{}}]', version).answer is None


@pytest.mark.parametrize("type_id", [5, 6])
def test_21_only_types_are_unknown_in_16_and_201(type_id):
    frame = f'[{type_id}, "m-1", "Heartbeat", {{}}]'
    assert fail(frame, V16).answer is None
    assert answer_of(frame, V201)[:3] == [4, "m-1", "MessageTypeNotSupported"]


def test_unknown_type_201_without_readable_id_uses_minus_one():
    assert answer_of("[9]", V201)[:3] == [4, UNKNOWN_MESSAGE_ID, "MessageTypeNotSupported"]
    assert answer_of("[9, 17]", V201)[1] == UNKNOWN_MESSAGE_ID


def test_message_types_per_version():
    assert message_types(V16) == message_types(V201) == {2, 3, 4}
    assert message_types(V21) == {2, 3, 4, 5, 6}


# ------------------------------------------------------------------ CALL
@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize(
    "frame",
    ["[2]", '[2, 17, "Heartbeat", {}]', '[2, null, "Heartbeat", {}]', '[2, "", "Heartbeat", {}]',
     f'[2, "{"x" * (MAX_MESSAGE_ID_LENGTH + 1)}", "Heartbeat", {{}}]', '[2, ["a"], "Heartbeat", {}]'],
    ids=["missing", "int", "null", "empty", "too-long", "list"],
)  # fmt: skip
def test_call_with_bad_message_id(version, frame):
    assert answer_of(frame, version)[:3] == [4, UNKNOWN_MESSAGE_ID, FRAMEWORK[version]]


@pytest.mark.parametrize("version", ALL)
def test_message_id_of_exactly_36_characters_is_fine(version):
    mid = "x" * MAX_MESSAGE_ID_LENGTH
    assert parse_frame(f'[2, "{mid}", "Heartbeat", {{}}]', version) == Call(mid, "Heartbeat", {})


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("frame", ['[2, "m-1"]', '[2, "m-1", "Heartbeat"]', '[2, "m-1", "Heartbeat", {}, {}]'])
def test_call_with_wrong_arity(version, frame):
    decoded = answer_of(frame, version)
    assert decoded[:3] == [4, "m-1", FRAMEWORK[version]]
    assert "4 elements" in decoded[3]


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("action", ["1", "null", '""', "{}", '["Heartbeat"]'])
def test_call_with_non_string_or_empty_action(version, action):
    assert answer_of(f'[2, "m-1", {action}, {{}}]', version)[:3] == [4, "m-1", FRAMEWORK[version]]


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("payload", ["[]", "null", '"x"', "1", "true"])
def test_call_with_non_object_payload(version, payload):
    assert answer_of(f'[2, "m-1", "Heartbeat", {payload}]', version)[:3] == [4, "m-1", FORMAT[version]]


def test_answer_description_is_bounded():
    error = fail(f'["{"9" * 400}", "m-1", "A", {{}}]', V201)
    assert error.answer is not None and error.answer.message_id == "m-1"
    assert len(error.answer.description) <= 255


# ------------------------------------------------------------------ CALLRESULT / CALLERROR
@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize(
    "frame",
    ['[3, "m-1"]', '[3, "m-1", []]', '[3, "m-1", null]', '[3, "m-1", {}, {}]', "[3, 17, {}]", "[3]",
     f'[3, "{"x" * 37}", {{}}]'],
)  # fmt: skip
def test_broken_callresult_is_dropped_in_16_and_201(version, frame):
    assert fail(frame, version).answer is None


@pytest.mark.parametrize("frame", ['[3, "m-1"]', '[3, "m-1", []]', '[3, "m-1", "x"]', '[3, "m-1", {}, 1]'])
def test_broken_callresult_21_answers_callresulterror(frame):
    error = fail(frame, V21)
    assert isinstance(error.answer, CallResultError)
    assert orjson.loads(error.answer.encode())[:3] == [5, "m-1", "FormatViolation"]


@pytest.mark.parametrize("frame", ["[3, 17, {}]", "[3]", "[3, null, {}]"])
def test_broken_callresult_21_without_id_is_dropped(frame):
    assert fail(frame, V21).answer is None


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize(
    "frame",
    ['[4, "m-1"]', '[4, "m-1", "GenericError"]', '[4, "m-1", 5, "d", {}]', '[4, "m-1", null, "d", {}]',
     '[4, "m-1", "GenericError", "d", {}, 1]', '[4, 17, "GenericError", "d", {}]'],
)  # fmt: skip
def test_broken_callerror_is_never_answered(version, frame):
    assert fail(frame, version).answer is None


@pytest.mark.parametrize("version", ALL)
def test_lenient_callerror_shapes(version):
    # No details element, a non-string description, non-object details: read what can be read.
    assert parse_frame('[4, "m-1", "GenericError", "oops"]', version) == CallError("m-1", "GenericError", "oops", {})
    assert parse_frame('[4, "m-1", "GenericError", 42, ["x"]]', version) == CallError("m-1", "GenericError", "42", {})


def test_broken_callresulterror_21_is_dropped():
    assert fail('[5, "m-1"]', V21).answer is None
    assert fail('[5, "m-1", 3, "d", {}]', V21).answer is None


# ------------------------------------------------------------------ SEND (2.1)
def test_send_parses_in_21():
    frame = parse_frame('[6, "s-1", "NotifyPeriodicEventStream", {"id": 1}]', V21)
    assert frame == Send("s-1", "NotifyPeriodicEventStream", {"id": 1})
    assert type(frame) is Send


@pytest.mark.parametrize(
    "frame",
    ['[6, "s-1", "A"]', '[6, "s-1", 1, {}]', '[6, "s-1", "A", []]', '[6, 17, "A", {}]', "[6]",
     '[6, "s-1", "A", {}, 1]'],
)  # fmt: skip
def test_broken_send_is_never_answered(frame):
    assert fail(frame, V21).answer is None


# ------------------------------------------------------------------ round trips
FRAMES = [
    Call("id-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
    Call("x" * 36, "Heartbeat", {}),
    CallResult("id-2", {"currentTime": "2024-01-01T00:00:00Z", "nested": {"a": [1, 2.5, None, True]}}),
    CallResult("id-3", {}),
    CallError("id-4", "GenericError", "something", {"k": "v"}),
    CallError("id-5", "OccurenceConstraintViolation", "", {}),
    CallError("-1", "RpcFrameworkError", "unicode: é ✓ 漢字", {}),
]
FRAMES_21 = [
    CallResultError("id-6", "FormatViolation", "bad result", {"path": "a/b"}),
    Send("id-7", "NotifyPeriodicEventStream", {"id": 3, "pending": 0, "basetime": "2024-01-01T00:00:00Z"}),
]


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_round_trip(version, frame):
    text = frame.encode()
    parsed = parse_frame(text, version)
    assert type(parsed) is type(frame)
    assert parsed == frame
    assert parse_frame(text.encode(), version) == frame  # bytes in, too


@pytest.mark.parametrize("frame", FRAMES_21, ids=lambda f: type(f).__name__)
def test_round_trip_21_types(frame):
    parsed = parse_frame(frame.encode(), V21)
    assert type(parsed) is type(frame) and parsed == frame


def test_encoding_is_compact_json_array():
    assert Call("a", "Heartbeat", {}).encode() == '[2,"a","Heartbeat",{}]'
    assert CallResult("a", {"x": 1}).encode() == '[3,"a",{"x":1}]'
    assert CallError("a", "GenericError").encode() == '[4,"a","GenericError","",{}]'
    assert CallResultError("a", "FormatViolation", "d").encode() == '[5,"a","FormatViolation","d",{}]'
    assert Send("a", "X", {}).encode() == '[6,"a","X",{}]'


@pytest.mark.parametrize("version", ALL)
def test_parse_accepts_memoryview_and_bytearray(version):
    raw = b'[2,"a","Heartbeat",{}]'
    assert parse_frame(memoryview(raw), version) == Call("a", "Heartbeat", {})
    assert parse_frame(bytearray(raw), version) == Call("a", "Heartbeat", {})


# ------------------------------------------------------------------ payloads no OCPP field holds
def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_payload_nested_deeper_than_the_limit_is_a_format_violation(version, as_bytes):
    text = f'[2, "m-1", "DataTransfer", {nested(MAX_PAYLOAD_DEPTH + 1)}]'
    decoded = answer_of(text.encode() if as_bytes else text, version)
    assert decoded[:3] == [4, "m-1", FORMAT[version]]
    assert "nested" in decoded[3]


@pytest.mark.parametrize("version", ALL)
def test_payload_at_the_depth_limit_and_many_flat_brackets_parse(version):
    assert parse_frame(f'[2, "m-1", "DataTransfer", {nested(MAX_PAYLOAD_DEPTH)}]', version).action == "DataTransfer"
    flat = '{"list": [' + ", ".join(["{}"] * 500) + "]}"
    assert len(parse_frame(f'[2, "m-1", "X", {flat}]', version).payload["list"]) == 500


@pytest.mark.parametrize("version", ALL)
def test_message_type_element_nested_1000_deep_is_described_without_recursing(version):
    text = "[" + "[" * 1000 + "2" + "]" * 1000 + ', "m-1", "Heartbeat", {}]'
    error = fail(text, version)
    assert "an array" in error.reason
    if version is V201:
        assert orjson.loads(error.answer.encode())[:3] == [4, "m-1", "MessageTypeNotSupported"]
    else:
        assert error.answer is None


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize(
    ("payload", "path"),
    [('{"idTag": "A\\u0000"}', "idTag"), ('{"a": [{"b": "\\u0000"}]}', "a/0/b"), ('{"k\\u0000": 1}', "'k\\x00'")],
)
def test_nul_in_a_string_is_a_property_constraint_violation(version, payload, path):
    decoded = answer_of(f'[2, "m-1", "Authorize", {payload}]', version)
    assert decoded[:3] == [4, "m-1", "PropertyConstraintViolation"]
    assert decoded[3].startswith(path.replace("\\x00", "\x00")) or "U+0000" in decoded[3]


@pytest.mark.parametrize("version", ALL)
def test_escaped_backslash_before_u0000_is_not_a_nul(version):
    assert parse_frame('[2, "m-1", "DataTransfer", {"vendorId": "a\\\\u0000"}]', version).payload == {
        "vendorId": "a\\u0000"
    }


def test_nul_in_a_callresult_is_a_broken_reply():
    text = '[3, "m-1", {"value": "\\u0000"}]'
    assert fail(text, V16).answer is None and fail(text, V201).answer is None
    assert orjson.loads(fail(text, V21).answer.encode())[:3] == [5, "m-1", "PropertyConstraintViolation"]
