# One service account per function: it runs the function and signs the push requests of the
# function's own trigger subscriptions. Its roles are granted next to the resources they are on.
resource "google_service_account" "fn" {
  for_each = var.functions

  account_id   = "${each.value.service_account_id}${local.suffix}"
  display_name = "MHI function ${local.function_names[each.key]}"
  description  = "Runs Cloud Function ${local.function_names[each.key]} (functions/${each.key})"
}

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124: only the HTTP api (users and the console call it) allows outside traffic, and only IAM invokers of var.api_invokers reach it; every other function is internal-only
  for_each = var.functions

  name        = local.function_names[each.key]
  location    = var.region
  description = each.value.http ? "functions/${each.key}: HTTP, IAM invokers only (api.tf)" : "functions/${each.key}: triggered by ${join(", ", [for t in each.value.trigger_topics : local.topic_ids[t]])}"

  build_config {
    runtime     = var.runtime
    entry_point = each.value.entry_point

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle[each.key].name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = 0 # idle cost is zero
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = 1
    # Pub/Sub push counts as internal; the HTTP api takes requests from outside, IAM-checked.
    ingress_settings               = each.value.http ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.fn[each.key].email
    # Only the controller sets timers (timers.tf).
    environment_variables = each.key == "controller" ? local.controller_env_vars : local.env_vars
  }

  lifecycle {
    # Code is deployed by Cloud Build (`gcloud functions deploy --source`), not by terraform.
    ignore_changes = [build_config[0].source]
  }

  depends_on = [google_project_service.api]
}

# Only the function's own trigger subscriptions (through its service account) may invoke it.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = { for fn, f in var.functions : fn => f if !f.http }

  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.fn[each.key].member
}

# Pub/Sub mints the OIDC token of each push request as the function's service account.
resource "google_service_account_iam_member" "push_token" {
  for_each = var.functions

  service_account_id = google_service_account.fn[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}
