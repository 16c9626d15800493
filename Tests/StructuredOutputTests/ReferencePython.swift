import TestSupport

/// The venv the reference scripts (regex-cases.py, json-schema-cases.py) run in: the `jsonschema` package
/// with the format checkers it uses when installed (rfc3339-validator, isoduration, fqdn, rfc3987),
/// pydantic (what its HttpUrl takes), hypothesis and hypothesis-jsonschema.
enum ReferencePython {
    static func path() throws -> String {
        try FixtureCommand.run(["PYTHON_ENV=jsonschema", "scripts/python-env", "venv", "jsonschema", "rfc3339-validator", "isoduration", "fqdn",
                                "rfc3987", "pydantic", "hypothesis==6.112.0", "hypothesis-jsonschema==0.23.1"])
    }
}
