# Every bucket: uniform access, no public access, the customer-managed key when var.kms_key is
# set, usage logs when var.access_logs is set. A bucket that can hold guest data has a lifecycle
# rule that deletes it: runs (step outputs) after var.runs_retention_days, landed raw files after
# var.raw_retention_days. Flows and sources hold code and flow definitions, no guest data.

locals {
  # The usage-log bucket is created only with var.access_logs (it cannot log into itself).
  access_log_bucket = "${var.project}-mhi-access-logs${local.suffix}"
  access_logs       = var.access_logs ? [local.access_log_bucket] : []
  storage_key       = local.kms_keys.storage == "" ? [] : [local.kms_keys.storage]
}

# Run state: write-once objects (`if_generation_match=0`), so no versioning and no soft delete;
# whole runs expire after var.runs_retention_days.
resource "google_storage_bucket" "runs" {
  #checkov:skip=CKV_GCP_78: run state is write-once (if_generation_match=0): no object is ever overwritten, so there is no older version to keep
  #checkov:skip=CKV_GCP_62: usage logs are an option (var.access_logs); Data Access audit logs (var.data_access_logs, on by default) already record who read which object
  name                        = local.buckets.runs
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = false
  }

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    condition {
      age = var.runs_retention_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.storage_key
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = local.access_logs
    content {
      log_bucket        = logging.value
      log_object_prefix = "runs/"
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent, google_storage_bucket.access_logs]
}

# Flow definitions (`<flow_id>.json`), uploaded by the deploy pipeline from flows/. Versioned:
# the previous definition of a flow can always be recovered.
resource "google_storage_bucket" "flows" {
  #checkov:skip=CKV_GCP_62: usage logs are an option (var.access_logs); Data Access audit logs (var.data_access_logs, on by default) already record who read which object
  name                        = local.buckets.flows
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 20
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.storage_key
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = local.access_logs
    content {
      log_bucket        = logging.value
      log_object_prefix = "flows/"
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent, google_storage_bucket.access_logs]
}

# Landed source data (`raw/<account>/<system>/<dataset>/`: guest names, emails, phones), files
# to import (`imports/`), charts, and the extractors' watermarks (`state/`, kept: they hold no
# guest data and losing one means a full re-extraction).
resource "google_storage_bucket" "raw" {
  #checkov:skip=CKV_GCP_78: versioning would keep every landed file that retention deletes and every file `mhi gdpr erase` rewrites as a noncurrent version: guest data the operator asked to be gone
  #checkov:skip=CKV_GCP_62: usage logs are an option (var.access_logs); Data Access audit logs (var.data_access_logs, on by default) already record who read which object
  name                        = local.buckets.raw
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = false
  }

  # Nearline keeps an object at least 30 days: worth it only when files stay much longer.
  dynamic "lifecycle_rule" {
    for_each = var.raw_retention_days > 60 ? [30] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["raw/", "imports/"]
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  lifecycle_rule {
    condition {
      age            = var.raw_retention_days
      matches_prefix = ["raw/", "imports/"]
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.storage_key
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = local.access_logs
    content {
      log_bucket        = logging.value
      log_object_prefix = "raw/"
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent, google_storage_bucket.access_logs]
}

# The first source bundle of each function (`mhi package --all --zip`). Later code deploys go
# through Cloud Build (cloudbuild/deploy.yaml), so the functions ignore changes to their source.
resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_78: a bundle's object name is its content hash (filemd5): a changed bundle is a new object, never a new version of an old one
  #checkov:skip=CKV_GCP_62: usage logs are an option (var.access_logs); Data Access audit logs (var.data_access_logs, on by default) already record who read which object
  name                        = local.buckets.sources
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  dynamic "encryption" {
    for_each = local.storage_key
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = local.access_logs
    content {
      log_bucket        = logging.value
      log_object_prefix = "sources/"
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent, google_storage_bucket.access_logs]
}

# Usage logs of the buckets above (var.access_logs): hourly CSV objects written by Cloud Storage.
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62: this is the usage-log bucket: logging its own access into itself would log every log write
  #checkov:skip=CKV_GCP_78: Cloud Storage writes each log object once and the lifecycle rule deletes it; there is no older version to keep
  count = var.access_logs ? 1 : 0

  name                        = local.access_log_bucket
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.access_logs_retention_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.storage_key
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent]
}

# Cloud Storage writes usage logs as this group (documented by Cloud Storage).
resource "google_storage_bucket_iam_member" "access_log_writer" {
  count = var.access_logs ? 1 : 0

  bucket = google_storage_bucket.access_logs[0].name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

resource "google_storage_bucket_object" "bundle" {
  for_each = var.functions

  bucket = google_storage_bucket.sources.name
  name   = "${each.key}/${filemd5("${path.module}/${var.bundles_dir}/${each.key}.zip")}.zip"
  source = "${path.module}/${var.bundles_dir}/${each.key}.zip"
}

# ---- who may touch which bucket -------------------------------------------------------------

locals {
  # Every function reads run state and creates run-state objects (claims, started markers).
  runs_roles = merge([
    for fn, f in var.functions : {
      "${fn}/creator" = { function = fn, role = "roles/storage.objectCreator" }
      "${fn}/viewer"  = { function = fn, role = "roles/storage.objectViewer" }
    }
  ]...)

  raw_users = { for fn, f in var.functions : fn => f if f.raw_bucket }

  flow_readers = { for fn, f in var.functions : fn => f if f.flows_bucket }
}

resource "google_storage_bucket_iam_member" "runs" {
  for_each = local.runs_roles

  bucket = google_storage_bucket.runs.name
  role   = each.value.role
  member = google_service_account.fn[each.value.function].member
}

# The controller alone deletes, and only the `active/` index entries of finished runs.
resource "google_storage_bucket_iam_member" "runs_active_index" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.fn["controller"].member

  condition {
    title       = "active-index-only"
    description = "Create and delete the index of active runs (active/...)"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${local.buckets.runs}/objects/active/\")"
  }
}

resource "google_storage_bucket_iam_member" "flows_reader" {
  for_each = local.flow_readers

  bucket = google_storage_bucket.flows.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.fn[each.key].member
}

# Extractors land files and keep their watermarks here; analytics steps read imports and write
# charts. They own this data, so they may also replace it.
resource "google_storage_bucket_iam_member" "raw_user" {
  for_each = local.raw_users

  bucket = google_storage_bucket.raw.name
  role   = "roles/storage.objectUser"
  member = google_service_account.fn[each.key].member
}
