# Timers: the controller sets one named Cloud Tasks task per run and due second (a retry, a
# poll, a lease expiry, a timeout). When it is due, the task publishes {"kind": "wake", ...} to
# the controller topic through the Pub/Sub REST API, with an OAuth token Cloud Tasks mints for
# the controller's own service account (shared/mhi/adapters/gcp/cloud_tasks_timers.py): no HTTP
# endpoint of ours is exposed. The minute sweep (scheduler.tf) stays the safety net for a timer
# that was never set or never delivered.

locals {
  # The controller is the only function that sets timers: only it gets these variables
  # (functions.tf), read by shared/mhi/config.py.
  timer_env_vars = {
    MHI_TIMER_QUEUE   = google_cloud_tasks_queue.timers.id
    MHI_CONTROLLER_SA = google_service_account.fn["controller"].email
  }
  controller_env_vars = merge(local.env_vars, local.timer_env_vars)
}

resource "google_cloud_tasks_queue" "timers" {
  # A deleted queue's name cannot be taken again for about a week.
  name     = "mhi-timers${local.suffix}"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 50
    max_concurrent_dispatches = 50
  }

  # A wake is one Pub/Sub publish: retry a failed one within seconds, for ten minutes at most;
  # by then the sweep has woken the run anyway.
  retry_config {
    max_attempts       = 20
    max_retry_duration = "600s"
    min_backoff        = "1s"
    max_backoff        = "60s"
    max_doublings      = 6
  }

  depends_on = [google_project_service.api]
}

# Only the controller's account may add tasks to the queue ...
resource "google_cloud_tasks_queue_iam_member" "timer_enqueuer" {
  project  = var.project
  location = google_cloud_tasks_queue.timers.location
  name     = google_cloud_tasks_queue.timers.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.fn["controller"].member
}

# ... a task may carry a token of an account only if its creator may act as that account ...
resource "google_service_account_iam_member" "timer_token" {
  service_account_id = google_service_account.fn["controller"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.fn["controller"].member
}

# ... and the wake is published as the controller, to its own topic (as are the wakes the
# controller sends itself when a concurrency slot is given back: mhi.runtime.limits).
resource "google_pubsub_topic_iam_member" "timer_wake" {
  topic  = google_pubsub_topic.topic[var.controller_topic].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.fn["controller"].member
}
