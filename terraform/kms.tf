# Customer-managed encryption keys (optional): var.kms_key encrypts the buckets, the BigQuery
# datasets and the Pub/Sub topics; var.kms_key_secrets (default: var.kms_key) the secrets. Each
# Google service encrypts with the key through its own service agent, so each agent is granted
# the key it uses, and every encrypted resource waits for that grant.

locals {
  kms_secrets_key = var.kms_key_secrets != "" ? var.kms_key_secrets : var.kms_key

  # The key of each service; "" means Google-managed keys.
  kms_keys = {
    storage        = var.kms_key
    bigquery       = var.kms_key
    pubsub         = var.kms_key
    secret_manager = local.kms_secrets_key
  }

  # Where Secret Manager keeps the secrets: automatic replication for Google-managed keys and for
  # a key in `global`, one replica in the key's region otherwise.
  kms_secrets_location = local.kms_secrets_key == "" ? "" : regex("/locations/([^/]+)/", local.kms_secrets_key)[0]
  secrets_replication  = local.kms_secrets_location == "" || local.kms_secrets_location == "global" ? "auto" : "user_managed"

  # Pub/Sub takes null for "no key"; with a key, messages stay in var.region (the key's region).
  pubsub_key     = local.kms_keys.pubsub == "" ? null : local.kms_keys.pubsub
  pubsub_regions = local.kms_keys.pubsub == "" ? [] : [[var.region]]

  # One grant per service that has a key: service -> key.
  kms_grants = { for service, key in local.kms_keys : service => key if key != "" }
}

# The service agents. Reading the Cloud Storage and BigQuery agents also creates them; Secret
# Manager's is created by its service identity (a google-beta resource); Pub/Sub's exists once the
# API is on (pubsub.tf).
data "google_storage_project_service_account" "agent" {
  count = local.kms_keys.storage == "" ? 0 : 1
}

data "google_bigquery_default_service_account" "agent" {
  count = local.kms_keys.bigquery == "" ? 0 : 1
}

resource "google_project_service_identity" "secret_manager" {
  count    = local.kms_keys.secret_manager == "" ? 0 : 1
  provider = google-beta

  project = var.project
  service = "secretmanager.googleapis.com"
}

locals {
  kms_agents = {
    storage        = one(data.google_storage_project_service_account.agent[*].email_address)
    bigquery       = one(data.google_bigquery_default_service_account.agent[*].email)
    pubsub         = trimprefix(local.pubsub_agent, "serviceAccount:")
    secret_manager = one(google_project_service_identity.secret_manager[*].email)
  }
}

resource "google_kms_crypto_key_iam_member" "agent" {
  for_each = local.kms_grants

  crypto_key_id = each.value
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${local.kms_agents[each.key]}"
}
