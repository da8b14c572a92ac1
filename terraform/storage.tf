# Run state: write-once objects (`if_generation_match=0`), so no versioning and no soft delete;
# whole runs expire after var.runs_retention_days.
resource "google_storage_bucket" "runs" {
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

  depends_on = [google_project_service.api]
}

# Flow definitions (`<flow_id>.json`), uploaded by the deploy pipeline from flows/. Versioned:
# the previous definition of a flow can always be recovered.
resource "google_storage_bucket" "flows" {
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

  depends_on = [google_project_service.api]
}

# Landed source data (`raw/<account>/<system>/<dataset>/`), charts and import files.
resource "google_storage_bucket" "raw" {
  name                        = local.buckets.raw
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.raw_retention_days > 0 ? [var.raw_retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.api]
}

# The first source bundle of each function (`mhi package --all --zip`). Later code deploys go
# through Cloud Build (cloudbuild/deploy.yaml), so the functions ignore changes to their source.
resource "google_storage_bucket" "sources" {
  name                        = local.buckets.sources
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  depends_on = [google_project_service.api]
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
