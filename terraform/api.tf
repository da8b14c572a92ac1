# The HTTP API of the operations plane (function `api`, functions/api): runs, reruns, pauses,
# backfills, stats, and the console it serves. Cloud Functions IAM is the door: only the members
# of var.api_invokers may invoke it, and the function records the verified caller of every
# action (audit). Its service account reads and creates run-state objects (storage.tf grants
# every function that), reads stored flows and publishes starts and wake-ups to the controller
# topic (pubsub.tf, from the function map's `publishes`).
resource "google_cloud_run_v2_service_iam_member" "api_invoker" {
  for_each = { for pair in setproduct([for fn, f in var.functions : fn if f.http], var.api_invokers) : "${pair[0]}/${pair[1]}" => { function = pair[0], member = pair[1] } }

  location = var.region
  name     = google_cloudfunctions2_function.fn[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Log-based metrics, for alerting policies and dashboards. The controller logs
# "run <id> finished: <status>" once per finished run (and rerun), and
# "step <id> attempt <n> failed" at WARNING for each failed attempt; both carry the run's labels.
resource "google_logging_metric" "runs_finished" {
  name        = "mhi-runs-finished${local.suffix}"
  description = "Runs (and reruns) finished, by flow, account and terminal status."
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.logger=\"mhi.runtime.controller\" AND jsonPayload.message=~\"^run \\\\S+ finished: \\\\w+$\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "status"
      value_type  = "STRING"
      description = "succeeded, failed, cancelled or timed_out"
    }
    labels {
      key         = "flow_id"
      value_type  = "STRING"
      description = "the flow"
    }
    labels {
      key         = "account"
      value_type  = "STRING"
      description = "the account"
    }
  }

  label_extractors = {
    status  = "REGEXP_EXTRACT(jsonPayload.message, \"finished: (\\\\w+)$\")"
    flow_id = "EXTRACT(labels.flow_id)"
    account = "EXTRACT(labels.account)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "step_failures" {
  name        = "mhi-step-failures${local.suffix}"
  description = "Failed step attempts, by flow and step."
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.logger=\"mhi.runtime.controller\" AND severity=WARNING AND jsonPayload.message=~\"^step \\\\S+ attempt \\\\d+ failed$\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "flow_id"
      value_type  = "STRING"
      description = "the flow"
    }
    labels {
      key         = "step_id"
      value_type  = "STRING"
      description = "the step (for_each children as <step>.<index>)"
    }
  }

  label_extractors = {
    flow_id = "EXTRACT(labels.flow_id)"
    step_id = "REGEXP_EXTRACT(jsonPayload.message, \"^step (\\\\S+) attempt\")"
  }

  depends_on = [google_project_service.api]
}

output "api_url" {
  description = "The HTTP API (`<url>/api/v1`, OpenAPI at `<url>/api/v1/openapi.json`); call it with an identity token (`gcloud auth print-identity-token`)."
  value       = one([for fn, f in var.functions : google_cloudfunctions2_function.fn[fn].service_config[0].uri if f.http])
}
