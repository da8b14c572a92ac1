output "topics" {
  description = "Topic ids by base name (step type, ms-flows-controller, ms-flows-callbacks)."
  value       = { for k, t in google_pubsub_topic.topic : k => t.name }
}

output "dead_letter_inboxes" {
  description = "Where each trigger's undeliverable messages wait, by <function>/<topic>."
  value       = { for k, s in google_pubsub_subscription.dead_letter_inbox : k => s.name }
}

output "buckets" {
  description = "Bucket names: runs (RUNS_BUCKET), flows (FLOWS_BUCKET), raw (RAW_BUCKET), sources."
  value = {
    runs    = google_storage_bucket.runs.name
    flows   = google_storage_bucket.flows.name
    raw     = google_storage_bucket.raw.name
    sources = google_storage_bucket.sources.name
  }
}

output "function_names" {
  description = "Cloud Function names by folder under functions/."
  value       = { for k, f in google_cloudfunctions2_function.fn : k => f.name }
}

output "function_urls" {
  description = "Function URLs (invokable only by their trigger subscriptions)."
  value       = { for k, f in google_cloudfunctions2_function.fn : k => f.service_config[0].uri }
}

output "service_accounts" {
  description = "Runtime service account of each function."
  value       = { for k, s in google_service_account.fn : k => s.email }
}

output "datasets" {
  description = "BigQuery dataset ids by <account>/<layer>."
  value       = { for k, d in local.datasets : k => d.dataset_id }
}

output "secrets" {
  description = "Secret Manager ids to fill with `gcloud secrets versions add`."
  value       = sort(keys(local.secrets))
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs: the sweep and one per scheduled flow."
  value = merge(
    { sweep = google_cloud_scheduler_job.sweep.name },
    { for k, j in google_cloud_scheduler_job.flow : k => j.name },
  )
}

output "deployer_service_account" {
  description = "Service account of the deploy pipeline (cloudbuild/deploy.yaml)."
  value       = google_service_account.deployer.email
}
