locals {
  # Pub/Sub's service agent: it pushes to the functions and forwards dead letters.
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Cloud Scheduler's service agent publishes the sweep and the scheduled starts.
  scheduler_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
}

# Who may start flows: the identities named here, and nobody else by a grant of this
# deployment (the controller only accepts accounts of var.accounts, see MHI_ACCOUNTS).
resource "google_pubsub_topic_iam_member" "controller_publisher" {
  for_each = toset(concat([local.scheduler_agent], var.controller_publishers))

  topic  = google_pubsub_topic.topic[var.controller_topic].id
  role   = "roles/pubsub.publisher"
  member = each.value
}

# Topics: ms-flows-controller, ms-flows-callbacks and one per step type.
resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83: a customer-managed key is the operator's choice (var.kms_key, applied below when set); unset, Pub/Sub encrypts with Google-managed keys
  for_each = local.topic_ids

  name                       = each.value
  message_retention_duration = "86400s" # a day of replay (seek) after an incident
  kms_key_name               = local.pubsub_key

  # With a regional key, messages are stored in the key's region only.
  dynamic "message_storage_policy" {
    for_each = local.pubsub_regions
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent]
}

# Each trigger has its own dead-letter topic, so a poisoned message says which function and
# which topic it came from.
resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83: a customer-managed key is the operator's choice (var.kms_key, applied below when set); unset, Pub/Sub encrypts with Google-managed keys
  for_each = local.triggers

  name                       = "${local.topic_ids[each.value.topic]}--${local.function_names[each.value.function]}--dead-letter"
  message_retention_duration = "604800s"
  kms_key_name               = local.pubsub_key

  dynamic "message_storage_policy" {
    for_each = local.pubsub_regions
    content {
      allowed_persistence_regions = message_storage_policy.value
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent]
}

# The trigger of a function: a push subscription to its URL, authenticated with an OIDC token of
# the function's own service account, retried with exponential backoff and dead-lettered after
# var.max_delivery_attempts (an unbounded redelivery loop is never an option). Terraform owns
# it, unlike the subscription an Eventarc trigger would create, which cannot carry a
# dead-letter policy. Functions-framework turns the push request into the same
# google.cloud.pubsub.topic.v1.messagePublished CloudEvent.
resource "google_pubsub_subscription" "trigger" {
  for_each = local.triggers

  name                       = "${local.topic_ids[each.value.topic]}--${local.function_names[each.value.function]}"
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds       = min(600, var.functions[each.value.function].timeout_seconds + 60)
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.fn[each.value.function].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.fn[each.value.function].email
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire, even for step types that run rarely
  }
}

# Where dead letters wait to be inspected (`gcloud pubsub subscriptions pull ... --auto-ack`)
# or replayed. A subscription on a dead-letter topic has no dead-letter policy of its own.
resource "google_pubsub_subscription" "dead_letter_inbox" {
  for_each = local.triggers

  name                       = "${google_pubsub_topic.dead_letter[each.key].name}--inbox"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards undeliverable messages to the dead-letter topic ...
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.triggers

  topic  = google_pubsub_topic.dead_letter[each.key].id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

# ... and acknowledges them on the source subscription.
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.triggers

  subscription = google_pubsub_subscription.trigger[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Who publishes where: the controller to every step topic, every step to the callbacks topic.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publishes

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.fn[each.value.function].member
}
