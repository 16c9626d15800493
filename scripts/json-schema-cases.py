#!/usr/bin/env python3
"""Reference verdicts for StructuredOutput's JSONSchemaState, from the `jsonschema` package, with valid
instances drawn by `hypothesis-jsonschema` (both from PyPI; run by the test through scripts/python-env).

  json-schema-cases.py cases COUNT SEED   JSON on stdout: {"schemas": [JSON text], "cases": [{"schema": i, "text": base64,
                                          "valid": bool, "compact": bool}]}. `compact`: valid with no
                                          whitespace outside strings. `valid`: the text is UTF-8 JSON (strict, no NaN) that
                                          jsonschema takes under the schema made strict (no properties beyond the
                                          listed ones, as served schemas are) with its format checker (formats
                                          checked by rfc3339-validator, isoduration, fqdn), with the served form's
                                          rules: keys in schema order, integers without fraction or exponent, no
                                          whitespace before or after the value, at most 32 whitespace bytes in a
                                          row, at most 12 nested containers, formats in one spelling (see
                                          served_format).
  json-schema-cases.py check FILE         FILE: JSON list of [schema index, prefix, completion] (base64); stdout:
                                          the indices whose concatenation is not a valid instance.
"""
import base64
import copy
import datetime
import ipaddress
import json
import random
import re
import sys
import warnings

import jsonschema
import pydantic
import urllib.parse
import uuid
from fqdn import FQDN
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema

from json_text import MAX_WHITESPACE_RUN, depth, escaped_key, loads, longest_whitespace_run, mutate, command_line

SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                      "email": {"type": ["string", "null"]},
                                      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
     "required": ["name", "age"], "additionalProperties": False},
    {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}, "size": {"type": "integer", "enum": [1, 12, 123]},
                                      "ok": {"type": "boolean"}, "kind": {"const": "fixed"}, "nothing": {"type": "null"}},
     "required": ["color", "size", "ok", "kind"]},
    {"$defs": {"node": {"type": "object", "properties": {"value": {"type": "number"},
                                                          "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
                        "required": ["value"], "additionalProperties": False}},
     "$ref": "#/$defs/node"},
    {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"},
                                          {"type": "object", "properties": {"x": {"type": "boolean"}}, "additionalProperties": False}]},
     "minItems": 1, "maxItems": 4},
    {"type": "integer"},
    {"enum": ["a", "ab", 7, 17, None, True]},
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "integer"}}},
    {"title": "Model", "type": "object",
     "properties": {"id": {"title": "Id", "type": "integer"},
                    "opt": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Opt"},
                    "sub": {"allOf": [{"$ref": "#/$defs/Sub"}]}},
     "required": ["id", "sub"],
     "$defs": {"Sub": {"type": "object", "properties": {"flag": {"type": "boolean"}, "n": {"type": "number"}}, "required": ["flag"]}}},
    # Objects told apart by their first property (the gateway's tool_choice "required" schema).
    {"type": "array", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
        {"type": "object", "properties": {"name": {"enum": ["get_weather"]},
                                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
         "required": ["name", "parameters"], "additionalProperties": False},
        {"type": "object", "properties": {"name": {"enum": ["get_time", "get_date"]},
                                          "parameters": {"type": "object", "properties": {"zone": {"type": "integer"}}}},
         "required": ["name", "parameters"], "additionalProperties": False}]}},
    # Strings with rules: `pattern` as re.search reads it, lengths in characters. Every string here has one,
    # so its served form writes no \u escape (see valid).
    {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"},
                                      "name": {"type": "string", "minLength": 2, "maxLength": 5},
                                      "note": {"type": "string", "pattern": "é|x{2}"},
                                      "tag": {"type": "string", "maxLength": 1}},
     "required": ["code", "name"], "additionalProperties": False},
    # Every string format served (jsonschema's checkers; hypothesis-jsonschema draws all but uuid and duration,
    # which random_instance draws).
    {"type": "object", "properties": {"day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "time"},
                                      "when": {"type": "string", "format": "date-time"}, "span": {"type": "string", "format": "duration"},
                                      "id": {"type": "string", "format": "uuid"}, "v4": {"type": "string", "format": "ipv4"},
                                      "v6": {"type": "string", "format": "ipv6"}, "host": {"type": "string", "format": "hostname"},
                                      "mail": {"type": "string", "format": "email"},
                                      # pydantic's AnyUrl / HttpUrl.
                                      "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2083}},
     "required": ["day", "when"], "additionalProperties": False},
    # A pattern or format with one length bound (the other implied or absent).
    {"type": "object", "properties": {"slug": {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$", "maxLength": 8},
                                      "word": {"type": "string", "pattern": "^(ab)+$", "minLength": 5},
                                      "host": {"type": "string", "format": "hostname", "maxLength": 12},
                                      "id": {"type": "string", "format": "uuid", "minLength": 1, "maxLength": 40},
                                      # Both bounds beside a pattern (pydantic's constr(min_length, max_length, pattern)).
                                      "user": {"type": "string", "pattern": "^[a-z]+(_[a-z]+)*$", "minLength": 3, "maxLength": 10},
                                      "even": {"type": "string", "pattern": "^(ab)+$", "minLength": 3, "maxLength": 7}},
     "required": ["slug", "word"], "additionalProperties": False},
    # Number bounds (pydantic's Field ge / gt / le / lt): integers rounded inward, numbers' bounds whole.
    {"type": "object", "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 5},
                                      "score": {"type": "number", "minimum": 0, "maximum": 1},
                                      "delta": {"type": "number", "exclusiveMinimum": -3, "exclusiveMaximum": 2},
                                      "count": {"type": "integer", "exclusiveMinimum": 0},
                                      "low": {"type": "integer", "maximum": -10.5},
                                      "grid": {"type": "array", "items": {"type": "integer", "minimum": -20, "exclusiveMaximum": 120}, "maxItems": 4},
                                      # Tuples (pydantic's tuple[NonNegativeInt, date]; a prefix then items).
                                      "pair": {"type": "array", "prefixItems": [{"type": "integer", "minimum": 0}, {"type": "string", "format": "date"}],
                                               "minItems": 2, "maxItems": 2},
                                      "tail": {"type": "array", "prefixItems": [{"type": "boolean"}], "items": {"type": "integer"}, "maxItems": 3},
                                      # int | float, and a type list of both.
                                      "either": {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "null"}]},
                                      "both": {"type": ["integer", "number"]}},
     "required": ["rating", "score"], "additionalProperties": False},
    # Other keys beside the listed ones (pydantic's dict[str, int]: additionalProperties a schema), written
    # after them. No string values anywhere, so a backslash in the text is one in a key (see valid).
    {"type": "object", "properties": {"id": {"type": "integer"},
                                      "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                                      "flags": {"type": "object", "properties": {"on": {"type": "boolean"}, "off": {"type": "boolean"}},
                                                "additionalProperties": {"type": "boolean"}}},
     "required": ["id"], "additionalProperties": {"type": "array", "items": {"type": "number"}, "maxItems": 2}},
    # Any values ({} and additionalProperties / items true or absent: pydantic's Any, dict, list).
    {"type": "object", "properties": {"meta": {}, "tags": {"type": "array"}, "extra": {"type": "object", "additionalProperties": True}},
     "required": ["meta"], "additionalProperties": False},
]
RULED_STRINGS = (9, 10, 11)
OTHER_KEYS = 13   # the schema with additionalProperties: keys outside the listed ones are written without escapes   # the schemas whose every string has a rule

# Edge cases per schema (index: texts), their verdicts computed like the drawn ones'.
HANDWRITTEN = {
    0: ['{"name":"a"}', '{"name":"a","age":1}', '{"age":1,"name":"a"}', '{"name":"a","age":1.0}', '{"name":"a","age":1e2}',
        '{"name":"a","age":1,"x":1}', '{"name":"a","age":1,"tags":["a","b","c"]}', '{"name":"a","age":1,"tags":["a","b","c","d"]}',
        '{"name":"a","age":-0}', '{"name":"a","age":01}', ' {"name":"a","age":1}', '{"name":"a","age":1} ', '{"name":"a","age":1,}'],
    1: ['{"color":"red","size":12,"ok":false,"kind":"fixed"}', '{"color":"red","size":2,"ok":false,"kind":"fixed"}',
        '{"color":"red","size":1234,"ok":false,"kind":"fixed"}', '{"color":"redd","size":1,"ok":true,"kind":"fixed"}',
        '{"color":"red","size":1,"ok":true,"kind":"fixed","nothing":null}', '{"color":"red","size":1,"ok":true,"kind":"other"}'],
    3: ['[]', '[1]', '[1,"a",{},{"x":true}]', '[1,"a",{},2,3]', '[1.5]', '[{"x":1}]'],
    4: ['0', '-12', '12 ', '1.0', '"1"'],
    5: ['7', '17', '1', '71', '"a"', '"ab"', '"abc"', 'null', 'true', 'false'],
    6: ['{}', '{"c":1}', '{"b":"x","a":"y"}', '{"a":"x","b":"y","c":3}'],
    8: ['[{"name":"get_weather","parameters":{"city":"Paris"}}]', '[{"name":"get_weather","parameters":{"zone":1}}]',
        '[{"name":"get_time","parameters":{"zone":1}},{"name":"get_date","parameters":{}}]', '[{"name":"get_time","parameters":{"city":"x"}}]',
        '[{"parameters":{},"name":"get_time"}]', '[{"name":"get_tim","parameters":{}}]', '[]'],
    9: ['{"code":"AB-123","name":"ab"}', '{"code":"AB-123\\n","name":"ab"}', '{"code":"AB-123\\n\\n","name":"ab"}',
        '{"code":"AB-1234","name":"ab"}', '{"code":"ab-123","name":"ab"}', '{"code":"AB-123","name":"a"}',
        '{"code":"AB-123","name":"abcdef"}', '{"code":"AB-123","name":"éé😀ab"}', '{"code":"AB-123","name":"éé😀abc"}',
        '{"code":"AB-123","name":"ab","note":"xxéyy"}', '{"code":"AB-123","name":"ab","note":"x"}',
        '{"code":"AB-123","name":"ab","note":"a\\"xx"}', '{"code":"AB-123","name":"a\\u0062"}', '{"code":"AB-123","name":"a\\tb"}',
        '{"code":"AB-123","name":"ab","tag":""}', '{"code":"AB-123","name":"ab","tag":"\\n"}', '{"code":"AB-123","name":"ab","tag":"ab"}',
        '{"code":"AB-123","name":"ab","note":"\\u00e9"}'],
    10: ['{"day":"2024-02-29","when":"2024-02-29T23:59:59.5+05:30"}', '{"day":"2023-02-29","when":"2024-02-29T00:00:00Z"}',
         '{"day":"2000-02-29","when":"1900-02-28T00:00:00Z"}', '{"day":"1900-02-29","when":"2000-01-01T00:00:00Z"}',
         '{"day":"0000-01-01","when":"2000-01-01T00:00:00Z"}', '{"day":"2000-01-01","when":"0000-01-01T00:00:00Z"}',
         '{"day":"2000-04-31","when":"2000-01-01T00:00:00Z"}', '{"day":"2000-12-31","when":"2000-01-01t00:00:00z"}',
         '{"day":"2000-01-01","when":"2000-01-01T24:00:00Z"}', '{"day":"2000-01-01","when":"2000-01-01T23:59:60Z"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00+24:00"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","at":"12:00:00-01:30"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","at":"12:00"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"P1Y2M3DT4H5M6S"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"P3W"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"PT"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"P"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"P1Y1D"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"PT1H1S"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"P1234567D"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","span":"PT0.5S"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","id":"123e4567-E89B-12d3-a456-426614174000"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","id":"123e4567e89b12d3a456426614174000"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v4":"255.255.255.255"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v4":"256.1.1.1"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v4":"01.1.1.1"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"::ffff:1.2.3.4"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"1:2:3:4:5:6:7::"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"1:2:3:4:5:6:7:8:9"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"1::2::3"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"::1.2.3"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"1:2:3:4:5:6:1.2.3.4"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","v6":"12345::"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","host":"a-b.c"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","host":"-a.c"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","host":"a.c."}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","host":"' + "a" * 64 + '"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","host":"' + ".".join(["a" * 63] * 4) + '"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","host":"' + ".".join(["a" * 63] * 3 + ["a" * 61]) + '"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","mail":"first.last+tag@mail.example.com"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","mail":"a..b@c.de"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","mail":"a@b"}',
         '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","mail":"a@b.c1"}', '{"day":"2000-01-01","when":"2000-01-01T00:00:00Z","mail":"a\\/b@c.de"}'],
    12: ['{"rating":1,"score":0}', '{"rating":5,"score":1.0}', '{"rating":6,"score":1}', '{"rating":0,"score":0.5}', '{"rating":3,"score":1.01}',
         '{"rating":3,"score":-0.0}', '{"rating":3,"score":1e-1}', '{"rating":3,"score":0.999}', '{"rating":3,"score":0,"delta":-3}',
         '{"rating":3,"score":0,"delta":-2.999}', '{"rating":3,"score":0,"delta":2}', '{"rating":3,"score":0,"delta":1.9}',
         '{"rating":3,"score":0,"delta":-0}', '{"rating":3,"score":0,"count":0}', '{"rating":3,"score":0,"count":1}',
         '{"rating":3,"score":0,"count":123456789}', '{"rating":3,"score":0,"low":-10}', '{"rating":3,"score":0,"low":-11}',
         '{"rating":3,"score":0,"grid":[-20,119,0,99]}', '{"rating":3,"score":0,"grid":[-21]}', '{"rating":3,"score":0,"grid":[120]}',
         '{"rating":3.0,"score":0}', '{"rating":-0,"score":0}', '{"rating":3,"score":0,"pair":[0,"2000-01-01"]}',
         '{"rating":3,"score":0,"pair":[0]}', '{"rating":3,"score":0,"pair":[0,"2000-01-01",1]}', '{"rating":3,"score":0,"pair":["2000-01-01",0]}',
         '{"rating":3,"score":0,"tail":[]}', '{"rating":3,"score":0,"tail":[true,1,2]}', '{"rating":3,"score":0,"tail":[1]}',
         '{"rating":3,"score":0,"tail":[false,1,2,3]}', '{"rating":3,"score":0,"tail":[false,true]}',
         '{"rating":3,"score":0,"either":1.5e3,"both":-2}', '{"rating":3,"score":0,"either":null,"both":0.25}', '{"rating":3,"score":0,"either":"1"}'],
    14: ['{"meta":null}', '{"meta":{"a":[1,{"b":"\\n"}],"c":-1.5e3}}', '{"meta":[]}', '{"meta":{"\\u0061":1}}', '{"meta":1,"tags":[1,"a",null]}',
         '{"meta":1,"extra":{"x":{"y":[true]}}}', '{"meta":1,"extra":[]}', '{"meta":' + "[" * 13 + "]" * 13 + '}', '{"meta":' + "[" * 11 + "]" * 11 + '}',
         '{"meta":1,"other":2}', '{"meta":tru}', '{"meta":{"a":1,}}'],
    13: ['{"id":1}', '{"id":1,"x":[1]}', '{"x":[1],"id":1}', '{"id":1,"counts":{"a":1,"b":2},"z":[]}', '{"id":1,"z":[],"counts":{}}',
         '{"id":1,"counts":{"a":-1}}', '{"id":1,"flags":{"on":true,"x":false}}', '{"id":1,"flags":{"x":false,"on":true}}',
         '{"id":1,"flags":{"off":true,"on":true}}', '{"id":1,"flags":{"on":true,"on":false}}', '{"id":1,"flags":{"o":true,"onn":false,"":true}}',
         '{"id":1,"flags":{"a\\"b":true}}', '{"id":1,"flags":{"\\u0061":true}}', '{"id":1,"flags":{"é😀":true}}', '{"id":1,"id":2}',
         '{"id":1,"counts":{"id":3},"flags":{}}', '{"id":1,"flags":{"on":1}}'],
    11: ['{"slug":"ab-cd","word":"ababab"}', '{"slug":"abcd-efgh","word":"ababab"}', '{"slug":"abcd-efg","word":"abab"}',
         '{"slug":"a","word":"ababa"}', '{"slug":"a-","word":"ababab"}', '{"slug":"a","word":"ababab","host":"abc.defgh.ij"}',
         '{"slug":"a","word":"ababab","host":"abc.defgh.ijk"}', '{"slug":"a","word":"ababab","id":"123e4567-e89b-12d3-a456-426614174000"}',
         '{"slug":"a","word":"ababa","user":"ab"}', '{"slug":"a","word":"ababa","user":"abc"}', '{"slug":"a","word":"ababa","user":"a_b"}',
         '{"slug":"a","word":"ababa","user":"abcde_fghi"}', '{"slug":"a","word":"ababa","user":"abcde_fghij"}', '{"slug":"a","word":"ababa","even":"ab"}',
         '{"slug":"a","word":"ababa","even":"abab"}', '{"slug":"a","word":"ababa","even":"ababab"}', '{"slug":"a","word":"ababa","even":"abababab"}'],
}

MAX_DEPTH = 12


class FloatText(str):
    """A number written with a fraction or exponent (json's parse_float hook)."""


def strict(schema):
    """The schema as served: objects take their listed properties only."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                node.setdefault("additionalProperties", False)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(schema)
    return schema


def property_schema(schema, key):
    """An object schema's schema for a key: its property's, else additionalProperties' (none: anything)."""
    if key in schema.get("properties", {}):
        return schema["properties"][key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def item_schema(schema, i):
    """An array schema's schema for item i: prefixItems' then items' (none: anything, as JSON Schema reads it)."""
    prefix = schema.get("prefixItems", [])
    return prefix[i] if i < len(prefix) else schema.get("items", {})


def resolve(schema, root):
    while True:
        if "$ref" in schema:
            ref = schema["$ref"]
            schema = root if ref == "#" else root[ref.split("/")[1]][ref.split("/")[2]]
        elif "allOf" in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def ascii_pattern(validator, pattern, instance, schema):
    """`pattern` read as the JSON Schema spec (ECMA-262) and LatentServe read it, where the jsonschema package
    uses Python's re.search as is: \\d \\w \\s ASCII, and a final `$` at the very end (Python's also matches
    before a final newline)."""
    body = pattern[:-1]
    if pattern.endswith("$") and (len(body) - len(body.rstrip("\\"))) % 2 == 0:
        pattern = body + r"\Z"
    if validator.is_type(instance, "string") and not re.search(pattern, instance, re.ASCII):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


ECMAValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": ascii_pattern})
# jsonschema checks a format only when the package behind it is installed: without them it would take anything.
assert {"date-time", "time", "duration", "hostname", "uri"} <= set(ECMAValidator.FORMAT_CHECKER.checkers), \
    "install rfc3339-validator, isoduration, fqdn, rfc3987"
HTTP_URL = pydantic.TypeAdapter(pydantic.HttpUrl)


def validator(schema, root):
    sub = dict(schema)
    for defs in ("$defs", "definitions"):
        if defs in root:
            sub[defs] = root[defs]
    return ECMAValidator(sub, format_checker=ECMAValidator.FORMAT_CHECKER)


class IntText(str):
    """A number written without a fraction or exponent (json's parse_int hook)."""


BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def served_format(name, text):
    """A format's one spelling where jsonschema takes several (StringFormat's): upper-case T and Z, no year
    0000 (Python's date has none), duration numbers of 6 digits or fewer (what pydantic's timedelta holds), a
    hostname without a trailing dot; and an email is an RFC 5322 dot-atom, `@`, and a hostname of two or
    more labels ending in a letter (jsonschema asks for an `@` only), 254 characters at most."""
    if name in ("date-time", "time"):
        return not any(c in text for c in "tz") and not text.startswith("0000")
    if name == "duration":
        # RFC 3339's durations (appendix A): weeks alone, or the date units and the time units each a run of
        # Y M D / H M S without a gap; integers.
        date, _, clock = text[1:].partition("T")
        units = lambda part: "".join(c for c in part if c.isalpha())
        return (re.fullmatch(r"P([0-9]+[A-Z])*(T([0-9]+[A-Z])+)?", text) is not None and units(date) in ("W", "Y", "YM", "YMD", "M", "MD", "D", "")
                and units(clock) in ("H", "HM", "HMS", "M", "MS", "S", "") and (units(date) != "W" or not clock)
                and all(len(n) <= 6 for n in re.findall(r"[0-9]+", text)))
    if name == "hostname":
        return not text.endswith(".")
    if name == "uri":
        # An http(s) URL pydantic's HttpUrl takes, without port or user.
        try:
            HTTP_URL.validate_python(text)
        except pydantic.ValidationError:
            return False
        parts = urllib.parse.urlsplit(text)
        return parts.scheme in ("http", "https") and text.startswith(parts.scheme + "://") and ":" not in parts.netloc and "@" not in parts.netloc
    if name == "email":
        atext = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
        local, _, domain = text.rpartition("@")
        return (re.fullmatch(rf"{atext}(\.{atext})*", local, re.ASCII) is not None and len(text) <= 254
                and "." in domain and FQDN(domain, min_labels=2).is_valid and not domain.endswith(".") and domain[-1].isalpha())
    return True


def served_form(value, marked, schema, root):
    """Key order and integer spelling: `marked` is the same document with objects as pair lists and
    fraction / exponent numbers as FloatText."""
    schema = resolve(schema, root)
    for word in ("anyOf", "oneOf"):
        if word in schema:
            return any(validator(alt, root).is_valid(value) and served_form(value, marked, alt, root) for alt in schema[word])
    types = schema.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    if isinstance(marked, FloatText) and "integer" in types and "number" not in types:
        return False
    if isinstance(marked, list) and isinstance(value, dict):
        order = list(schema.get("properties", {}))
        # Listed keys in schema order, each once, then any others (additionalProperties).
        positions = [order.index(k) if k in order else len(order) for k, _ in marked]
        listed = [k for k, _ in marked if k in order]
        return (positions == sorted(positions) and len(listed) == len(set(listed))
                and all(served_form(value[k], m, property_schema(schema, k), root) for k, m in marked))
    if isinstance(marked, list) and isinstance(value, list) and ("items" in schema or "prefixItems" in schema):
        return all(served_form(v, m, item_schema(schema, i), root) for i, (v, m) in enumerate(zip(value, marked)))
    if isinstance(marked, (IntText, FloatText)) and any(b in schema for b in BOUNDS):
        # A bounded number's one spelling: no exponent, no negative zero.
        return "e" not in marked.lower() and not (marked.startswith("-") and value == 0)
    if isinstance(value, str) and "format" in schema:
        return served_format(schema["format"], value)
    return True


def valid(data: bytes, schema) -> bool:
    if any(schema is SCHEMAS[i] for i in RULED_STRINGS) and b"\\u" in data:
        return False    # a string with a rule is written without \u escapes
    if schema is SCHEMAS[OTHER_KEYS] and b"\\" in data:
        return False    # keys beyond the listed ones are written without escapes
    try:
        value = loads(data)
        marked = loads(data, parse_float=FloatText, parse_int=IntText, object_pairs_hook=lambda pairs: [(k, v) for k, v in pairs])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    served = strict(schema)
    return (validator(served, served).is_valid(value) and served_form(value, marked, served, served) and depth(value) <= MAX_DEPTH
            and not escaped_key(data)
            and data[:1] not in b" \t\n\r" and data[-1:] not in b" \t\n\r" and longest_whitespace_run(data) <= MAX_WHITESPACE_RUN)


def ordered_dump(rng, value, schema, root):
    """JSON text of `value` with object keys in schema order and random whitespace between tokens."""
    schema = resolve(schema, root)
    for word in ("anyOf", "oneOf"):
        if word in schema:
            alt = next(a for a in schema[word] if validator(a, root).is_valid(value))
            return ordered_dump(rng, value, alt, root)
    ws = lambda: rng.choice(["", "", "", " ", "\n  ", "\t"])
    if isinstance(value, dict):
        order = list(schema.get("properties", {}))
        # Keys the schema does not list (additionalProperties', or a value hypothesis drew for an item it does
        # not know the schema of) last.
        parts = [ws() + json.dumps(k, ensure_ascii=False) + ws() + ":" + ws() + ordered_dump(rng, value[k], property_schema(schema, k), root) + ws()
                 for k in sorted(value, key=lambda k: order.index(k) if k in order else len(order))]
        return "{" + ",".join(parts) + ws() + "}"
    if isinstance(value, list):
        return "[" + ",".join(ws() + ordered_dump(rng, v, item_schema(schema, i), root) + ws() for i, v in enumerate(value)) + ws() + "]"
    return json.dumps(value, ensure_ascii=rng.random() < 0.3)


def format_example(rng, name):
    """A string of a format made by Python's own types (datetime, uuid, ipaddress), in the spellings they
    write, or by the RFCs' grammars (durations, hostnames, emails) with units and labels drawn at random."""
    day = datetime.date.fromordinal(rng.randrange(1, datetime.date.max.toordinal() + 1))
    offset = datetime.timezone(datetime.timedelta(minutes=rng.randrange(-1439, 1440))) if rng.random() < 0.5 else datetime.timezone.utc
    moment = datetime.datetime.combine(day, datetime.time(rng.randrange(24), rng.randrange(60), rng.randrange(60),
                                                          rng.choice([0, rng.randrange(10 ** 6)])), offset)
    label = lambda: rng.choice(["a", "x1", "mail", "b-2c", "a" * 63, "Zz9"])
    host = lambda: ".".join(label() for _ in range(rng.randint(1, 4)))
    number = lambda: str(rng.choice([0, 1, 12, 999999, 1000000, rng.randrange(10 ** 6)]))
    if name == "date":
        return day.isoformat()
    if name == "date-time":
        return moment.isoformat().replace("+00:00", "Z" if rng.random() < 0.7 else "+00:00")
    if name == "time":
        return moment.timetz().isoformat().replace("+00:00", "Z")
    if name == "uuid":
        text = str(uuid.UUID(int=rng.getrandbits(128)))
        return text.upper() if rng.random() < 0.3 else text
    if name == "ipv4":
        return str(ipaddress.IPv4Address(rng.getrandbits(32)))
    if name == "ipv6":
        address = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice([0, 64, 100, 127]) << rng.choice([0, 16, 64]) & (1 << 128) - 1)
        return rng.choice([str(address), address.exploded, str(ipaddress.IPv6Address(f"::ffff:{ipaddress.IPv4Address(rng.getrandbits(32))}"))])
    if name == "hostname":
        return host()
    if name == "uri":
        path = "".join("/" + rng.choice(["", "a", "x%20y", "(z)!$&'*+,;=:@", "~a_b.c", "%zz", "é"]) for _ in range(rng.randint(0, 3)))
        return (rng.choice(["http://", "https://", "ftp://", "HTTP://"]) + rng.choice([host(), host() + ".1", "1.2.3.4", "a:80", "u@a"]) + path
                + rng.choice(["", "?q=1&r=/?", "?"]) + rng.choice(["", "#f/?", "#"]))
    if name == "email":
        return rng.choice(["a", "first.last", "x+tag", "o'neil", "{z}"]) + "@" + host() + rng.choice([".com", ".de", ".c1", ""])
    if name == "duration":
        units = lambda letters: "".join(number() + u for u in letters if rng.random() < 0.5)
        date, clock = units("YMD"), units("HMS")
        return rng.choice(["P" + number() + "W", "P" + date + ("T" + clock if clock else ""), "P" + number() + "D"])
    return rng.choice(["", "a", "ab-cd", "ababab"])


def any_value(rng, level):
    """A JSON value of any kind, containers less likely deeper down."""
    kind = rng.choice(["string", "number", "literal"] + (["object", "array"] if rng.random() < 1 / (1 + level) else []))
    if kind == "object":
        return {rng.choice(["a", "key", "é", "x y", "q\"", "n\n"]): any_value(rng, level + 1) for _ in range(rng.randint(0, 3))}
    if kind == "array":
        return [any_value(rng, level + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice({"string": ["", "a", "日本", "q\"uote"], "number": [0, -1.5, 1e300, 12], "literal": [True, False, None]}[kind])


def random_instance(rng, schema, root, level=0):
    """A value of the schema drawn here (hypothesis-jsonschema cannot follow recursive references)."""
    schema = resolve(schema, root)
    for word in ("anyOf", "oneOf"):
        if word in schema:
            return random_instance(rng, rng.choice(schema[word]), root, level)
    if not any(k in schema for k in ("type", "enum", "const", "anyOf", "oneOf")):
        return any_value(rng, level)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema["type"] if isinstance(schema["type"], str) else rng.choice(schema["type"])
    if "format" in schema:
        return format_example(rng, schema["format"])
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        found = {k: random_instance(rng, v, root, level + 1) for k, v in props.items()
                 if k in required or (level < 4 and rng.random() < 0.5)}
        if isinstance(schema.get("additionalProperties"), dict) and level < 4:
            for _ in range(rng.randint(0, 3)):
                found[rng.choice(["a", "on", "o", "key two", "é", "id", "x" * rng.randint(1, 9)])] = random_instance(rng, schema["additionalProperties"], root, level + 1)
        return found
    if kind == "array":
        low, high = schema.get("minItems", 0), min(schema.get("maxItems", 4), schema.get("minItems", 0) + 3)
        return [random_instance(rng, item_schema(schema, i), root, level + 1) for i in range(rng.randint(low, high if level < 4 else low))]
    return {"string": lambda: rng.choice(["", "a", "héllo", "日本", "q\"uote", "line\nbreak", "😀"]),
            "integer": lambda: rng.choice([0, -1, 7, 123456789012, rng.randint(-30, 130)]),
            "number": lambda: rng.choice([0, -2.5, 1e-7, 3, 1e300, round(rng.uniform(-4, 3), rng.randint(0, 3))]),
            "boolean": lambda: rng.random() < 0.5, "null": lambda: None}[kind]()


def examples(schema, count, seed):
    rng = random.Random(seed)
    found = [random_instance(rng, strict(schema), strict(schema)) for _ in range(count)]
    if "$ref" in json.dumps(schema):
        return found

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(from_schema(strict(schema)))
    def collect(value):
        found.append(value)
    collect()
    return found[:2 * count]


def case(index, data, schema):
    """A text's verdicts: as served, and as served without whitespace (vLLM's disable_any_whitespace)."""
    verdict = valid(data, schema)
    return {"schema": index, "text": base64.b64encode(data).decode(), "valid": verdict,
            "compact": verdict and longest_whitespace_run(data) == 0}


def cases(count, seed):
    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    out = []
    for index, schema in enumerate(SCHEMAS):
        for text in HANDWRITTEN.get(index, []):
            data = text.encode()
            out.append(case(index, data, schema))
        served = strict(schema)
        for value in examples(schema, count, seed):
            try:
                data = ordered_dump(rng, value, served, served).encode("utf-8")
            except UnicodeEncodeError:   # a lone surrogate: written as an escape
                data = json.dumps(value).encode()
            for text in (data, mutate(rng, data), mutate(rng, data)):
                out.append(case(index, text, schema))
    json.dump({"schemas": [json.dumps(schema) for schema in SCHEMAS], "cases": out}, sys.stdout)


def check(path):
    with open(path) as f:
        triples = json.load(f)
    bad = [i for i, (index, prefix, completion) in enumerate(triples)
           if not valid(base64.b64decode(prefix) + base64.b64decode(completion), SCHEMAS[index])]
    json.dump(bad, sys.stdout)


if __name__ == "__main__":
    command_line(cases, check, __doc__)
