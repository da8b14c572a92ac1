# MHI Workflow Orchestrator: every GCP resource of one environment.
#
# What varies per function (size, triggers, secrets, buckets, BigQuery layers) is not written
# here: it is the `functions` map of functions.auto.tfvars.json, generated from the code by
# `mhi package --tfvars`. Every resource below is one block with for_each over that map.

locals {
  suffix = var.env == "" ? "" : "-${var.env}"

  # The one rule that turns a base topic name (a step type, ms-flows-controller, ...) into a
  # topic id. It must match the topic naming of shared/mhi/adapters/gcp/pubsub_bus.py.
  topic_ids = {
    for t in distinct(concat([var.controller_topic, var.callback_topic], var.step_topics)) :
    t => "${t}${local.suffix}"
  }

  buckets = {
    runs    = "${var.project}-mhi-runs${local.suffix}"
    flows   = "${var.project}-mhi-flows${local.suffix}"
    raw     = "${var.project}-mhi-raw${local.suffix}"
    sources = "${var.project}-mhi-sources${local.suffix}"
  }

  function_names = { for fn, f in var.functions : fn => "${f.function_id}${local.suffix}" }

  # One push subscription, one dead-letter topic and one dead-letter inbox per function and
  # trigger topic (the controller has two triggers: starts and callbacks).
  triggers = merge([
    for fn, f in var.functions : {
      for t in f.trigger_topics : "${fn}/${t}" => { function = fn, topic = t }
    }
  ]...)

  publishes = merge([
    for fn, f in var.functions : {
      for t in f.publishes : "${fn}/${t}" => { function = fn, topic = t }
    }
  ]...)

  env_vars = {
    MHI_BACKEND      = "gcp"
    MHI_WAREHOUSE    = "bigquery"
    _M_PROJECT_ID    = var.project
    _M_ENV_ACRONYM   = var.env
    RUNS_BUCKET      = local.buckets.runs
    FLOWS_BUCKET     = local.buckets.flows
    RAW_BUCKET       = local.buckets.raw
    LOG_EXECUTION_ID = "true"
    # The controller refuses starts for any other account (mhi.runtime.router).
    MHI_ACCOUNTS = join(",", var.accounts)
    # Limits per external system shared across runs and instances (mhi.config).
    MHI_CONCURRENCY_LIMITS = join(",", [for k, v in var.concurrency_limits : "${k}=${v}"])
    MHI_SHARED_RATES       = join(",", [for s, v in var.shared_rates : "${s}=${v}"])
    MHI_STEP_CONCURRENCY   = join(",", [for t, k in var.step_concurrency : "${t}=${k}"])
  }
}

resource "google_project_service" "api" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  service            = each.value
  disable_on_destroy = false
}
