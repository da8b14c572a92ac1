"""Secret values the tests search for in outputs and logs."""

from __future__ import annotations

import base64

MAILGUN_KEY = "key-SECRET-mailgun-0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"SECRET-webhook-signing-key-32byt").decode()
DOMAIN = "mg.hotel-example.com"
