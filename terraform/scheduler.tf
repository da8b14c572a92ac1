# The sweep: every minute the controller applies `decide` to every active run with the current
# time (timeouts, delayed retries, polls). A missed minute is covered by the next one.
resource "google_cloud_scheduler_job" "sweep" {
  name        = "mhi-sweep${local.suffix}"
  region      = var.region
  description = "Wake the MHI controller: timeouts, delayed retries and polls of active runs"
  schedule    = "* * * * *"
  time_zone   = "Etc/UTC"

  retry_config {
    retry_count = 0
  }

  pubsub_target {
    topic_name = google_pubsub_topic.topic[var.controller_topic].id
    data       = base64encode(jsonencode({ kind = "sweep" }))
    attributes = { mhi_trigger = "sweep" }
  }

  depends_on = [google_project_service.api]
}

# One job per flow of flows/ that has a `schedule`. The job publishes {"flow_ref", "params"};
# Pub/Sub targets cannot template the fire time into the message, so the attributes carry the
# schedule and the controller derives the run id from the message's publish time (the fire
# time it belongs to): a duplicate delivery or a retried job starts nothing new.
resource "google_cloud_scheduler_job" "flow" {
  for_each = var.scheduled_flows

  name        = "mhi-flow-${each.key}${local.suffix}"
  region      = var.region
  description = "Start flow ${each.key} of account ${each.value.account}"
  schedule    = each.value.cron
  time_zone   = each.value.time_zone

  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
  }

  pubsub_target {
    topic_name = google_pubsub_topic.topic[var.controller_topic].id
    data       = base64encode(each.value.message)
    attributes = {
      mhi_trigger   = "schedule"
      mhi_cron      = each.value.cron
      mhi_time_zone = each.value.time_zone
    }
  }

  depends_on = [google_project_service.api]
}
