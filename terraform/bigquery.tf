# One dataset per account and layer (raw, model, kpi, forecast).

locals {
  # The one rule for dataset ids, `<account>_<layer>` with '-' as '_': it must match the
  # warehouse adapters (shared/mhi/adapters/local/duckdb_warehouse.py dataset_name). Datasets are
  # per account, not per environment, like secrets.
  datasets = {
    for pair in setproduct(var.accounts, var.layers) :
    "${pair[0]}/${pair[1]}" => {
      account    = pair[0]
      layer      = pair[1]
      dataset_id = replace("${pair[0]}_${pair[1]}", "-", "_")
    }
  }

  dataset_writers = merge([
    for fn, f in var.functions : {
      for pair in setproduct(var.accounts, f.bigquery_write) :
      "${fn}/${pair[0]}/${pair[1]}" => { function = fn, dataset = "${pair[0]}/${pair[1]}" }
    }
  ]...)

  dataset_readers = merge([
    for fn, f in var.functions : {
      for pair in setproduct(var.accounts, setsubtract(f.bigquery_read, f.bigquery_write)) :
      "${fn}/${pair[0]}/${pair[1]}" => { function = fn, dataset = "${pair[0]}/${pair[1]}" }
    }
  ]...)

  bigquery_users = {
    for fn, f in var.functions : fn => f
    if length(f.bigquery_read) + length(f.bigquery_write) > 0
  }
}

resource "google_bigquery_dataset" "layer" {
  #checkov:skip=CKV_GCP_81: a customer-managed key is the operator's choice (var.kms_key, applied below when set); unset, BigQuery encrypts with Google-managed keys
  for_each = var.create_account_resources ? local.datasets : {}

  dataset_id    = each.value.dataset_id
  friendly_name = "${each.value.account} ${each.value.layer}"
  description   = "MHI ${each.value.layer} layer of account ${each.value.account}"
  location      = var.region

  labels = {
    account = lower(replace(each.value.account, "_", "-"))
    layer   = each.value.layer
  }

  # New tables of the dataset are encrypted with the key (tables created before keep theirs).
  dynamic "default_encryption_configuration" {
    for_each = local.kms_keys.bigquery == "" ? [] : [local.kms_keys.bigquery]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent]
}

resource "google_bigquery_dataset_iam_member" "writer" {
  for_each = local.dataset_writers

  dataset_id = local.datasets[each.value.dataset].dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.fn[each.value.function].member

  depends_on = [google_bigquery_dataset.layer]
}

resource "google_bigquery_dataset_iam_member" "reader" {
  for_each = local.dataset_readers

  dataset_id = local.datasets[each.value.dataset].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.fn[each.value.function].member

  depends_on = [google_bigquery_dataset.layer]
}

# Running load and query jobs is a project-level permission in BigQuery; the data itself is
# granted per dataset above.
resource "google_project_iam_member" "bigquery_job_user" {
  for_each = local.bigquery_users

  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.fn[each.key].member
}
