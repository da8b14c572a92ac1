# Data Access audit logs: who read or wrote which object, table or secret (Cloud Logging,
# log `cloudaudit.googleapis.com/data_access`; README, "Security: data protection"). BigQuery
# writes its data-access entries whatever this says; the entry keeps the intent visible here.
locals {
  audited_services = var.data_access_logs ? toset([
    "bigquery.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]) : toset([])
}

resource "google_project_iam_audit_config" "data_access" {
  for_each = local.audited_services

  project = var.project
  service = each.value

  audit_log_config {
    log_type = "DATA_READ"
    # The controller reads and writes only run state and flows (never guest data), on every step
    # of every run: its storage entries would be most of the volume and tell nothing about guests.
    exempted_members = each.value == "storage.googleapis.com" ? [google_service_account.fn["controller"].member] : []
  }

  audit_log_config {
    log_type         = "DATA_WRITE"
    exempted_members = each.value == "storage.googleapis.com" ? [google_service_account.fn["controller"].member] : []
  }
}
