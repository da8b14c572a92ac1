"""The nine source systems, one module each; every module exposes `SYSTEM` and `KIND`."""

SYSTEMS = (
    "axional",
    "avalon",
    "reviewpro",
    "sharepoint365",
    "businesscentral",
    "holded",
    "madisa",
    "fourvenues",
    "ulysescloud",
)
