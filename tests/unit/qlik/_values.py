"""Secret values the tests search for in outputs and logs."""

from __future__ import annotations

API_KEY = "qlik-key-SECRET-0123456789abcdef"
EXEC_TOKEN = "exec-token-SECRET-fedcba9876543210"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBFAKECERTSECRET\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIBFAKEKEYSECRET\n-----END PRIVATE KEY-----\n"
SECRETS = {
    "qlik-api-key": API_KEY,
    "qlik-automation-token": EXEC_TOKEN,
    "qlik-client-cert": CERT,
    "qlik-client-key": KEY,
}
