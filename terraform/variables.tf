variable "project" {
  description = "GCP project id everything is deployed to."
  type        = string
}

variable "region" {
  description = "Region of the functions, buckets, datasets and scheduler jobs."
  type        = string
  default     = "europe-southwest1"
}

variable "env" {
  description = "Environment acronym (e.g. dev, pre, pro). Suffixes every name so several environments can share a project; empty for none."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z][a-z0-9]{0,6})?$", var.env))
    error_message = "env must be empty or 1-7 lowercase letters/digits starting with a letter (it suffixes service-account ids, which are limited to 30 characters)."
  }
}

variable "accounts" {
  description = "Accounts (hotel groups) served: each gets its secrets and its BigQuery datasets."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.accounts : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", a))])
    error_message = "Each account must be 1-63 characters: letters, digits, '-' and '_', starting with a letter or digit (the rule of shared/mhi/constants.py)."
  }
}

variable "concurrency_limits" {
  description = "Concurrency limits per key across runs (MHI_CONCURRENCY_LIMITS): key or `*` pattern -> the most steps holding it at once, e.g. {\"qlik:hotel-fergus\" = 2, \"pms:*\" = 1}. A flow step's `concurrency` obeys the smaller of this and the flow's limit."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.concurrency_limits : can(regex("^[A-Za-z0-9*][A-Za-z0-9._:@*-]{0,127}$", k)) && v >= 1 && v <= 1000 && floor(v) == v])
    error_message = "concurrency_limits: keys of letters, digits, '.', '_', ':', '@', '-' and '*'; limits whole numbers from 1 to 1000 (the rule of shared/mhi/config.py)."
  }
}

variable "step_concurrency" {
  description = "Concurrency keys the deployment gives every step of a type that declares none (MHI_STEP_CONCURRENCY): step type -> key, e.g. {\"ms-qlik-app-reload\" = \"qlik:{{ run.account }}\"}; the limits come from concurrency_limits."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for t, k in var.step_concurrency : can(regex("^ms-[a-z0-9-]+$", t)) && !strcontains(k, ",")])
    error_message = "step_concurrency: keys are step types (ms-...), values keys without commas (the rule of shared/mhi/config.py)."
  }
}

variable "shared_rates" {
  description = "Request rates shared by every extractor instance (MHI_SHARED_RATES): system -> store key, optionally `@requests_per_second`, e.g. {avalon = \"avalon-pms@5\"}. Other systems pace each instance by itself."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for s, v in var.shared_rates : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@[0-9.]+)?$", v))])
    error_message = "shared_rates: each value is a key of letters, digits, '.', '_' and '-', optionally followed by @requests_per_second (the rule of shared/mhi/config.py)."
  }
}

variable "create_account_resources" {
  description = "Create the per-account Secret Manager containers and BigQuery datasets. They belong to the account, not to an environment: set false for the second environment of a shared project (grants are still made)."
  type        = bool
  default     = true
}

variable "extra_secrets" {
  description = "More secret names a function reads, by function folder: e.g. an extractor step whose config sets `credentials` to another prefix reads `<prefix>-api-key`."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for fn in keys(var.extra_secrets) : contains(keys(var.functions), fn)])
    error_message = "extra_secrets keys must be function folders (keys of var.functions)."
  }
}

variable "runs_retention_days" {
  description = "Run state objects (runs bucket) are deleted this many days after they were written."
  type        = number
  default     = 90
}

variable "raw_retention_days" {
  description = "Landed raw files (raw/ in the raw bucket: guest names, emails, phones) and files under imports/ are deleted this many days after they were written. Above 60 they move to Nearline after 30 days."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_retention_days >= 1 && var.raw_retention_days <= 3650 && floor(var.raw_retention_days) == var.raw_retention_days
    error_message = "raw_retention_days must be a whole number of days between 1 and 3650: landed guest data is never kept without limit."
  }
}

# ---- data protection: customer-managed keys, audit logs, access logs --------------------------

variable "kms_key" {
  description = "Cloud KMS key that encrypts the buckets, the BigQuery datasets, the Pub/Sub topics and (unless kms_key_secrets is set) the secrets: projects/<p>/locations/<var.region>/keyRings/<r>/cryptoKeys/<k>. The service agents of Cloud Storage, BigQuery, Pub/Sub and Secret Manager are granted it. Empty: Google-managed keys."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key))
    error_message = "kms_key must be empty or a key name: projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>."
  }

  validation {
    condition     = var.kms_key == "" || try(regex("/locations/([^/]+)/", var.kms_key)[0], "") == var.region
    error_message = "kms_key must be in var.region: buckets, datasets and topics live there and take only a key of their own location."
  }
}

variable "kms_key_secrets" {
  description = "Cloud KMS key for the secrets instead of kms_key. A key in `global` keeps the secrets' automatic replication; a key in a region replicates them in that region only (as kms_key does). Changing the replication recreates the secret containers: set it before adding values."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_secrets == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_secrets))
    error_message = "kms_key_secrets must be empty or a key name: projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>."
  }
}

variable "data_access_logs" {
  description = "Turn on Data Access audit logs (DATA_READ, DATA_WRITE) for Cloud Storage, BigQuery and Secret Manager: who read or wrote which object, table or secret, in Cloud Logging."
  type        = bool
  default     = true
}

variable "access_logs" {
  description = "Also write Cloud Storage usage logs of every bucket (one CSV per hour: requester IP, object, operation) to a bucket of their own."
  type        = bool
  default     = false
}

variable "access_logs_retention_days" {
  description = "Usage logs (access_logs) are deleted this many days after they were written."
  type        = number
  default     = 90

  validation {
    condition     = var.access_logs_retention_days >= 1
    error_message = "access_logs_retention_days must be at least 1."
  }
}

variable "controller_publishers" {
  description = "IAM members (group:..., user:..., serviceAccount:...) who may start flows by publishing to the controller topic. Cloud Scheduler (its service agent) and the controller itself are granted anyway; project owners and editors keep their project-wide rights."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.controller_publishers : can(regex("^(group|user|serviceAccount|domain):[^ ]+$", m))])
    error_message = "Each controller publisher is an IAM member: group:, user:, serviceAccount: or domain: followed by its name."
  }
}

variable "max_delivery_attempts" {
  description = "Pub/Sub push attempts before a message goes to the trigger's dead-letter topic (5-100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (the Pub/Sub limits)."
  }
}

variable "bundles_dir" {
  description = "Folder holding <function>.zip bundles made by `mhi package --all --zip`: the first deployment of each function. Later code deploys go through Cloud Build."
  type        = string
  default     = "../build/functions"
}

variable "github" {
  description = "GitHub repository connected to Cloud Build; when set, the deploy and terraform triggers are created."
  type = object({
    owner  = string
    name   = string
    branch = optional(string, "^main$")
  })
  default = null
}

variable "terraform_service_account" {
  description = "Email of the service account the terraform trigger runs as (it manages IAM, so it is created and granted by a project administrator, not by this configuration)."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------------------------
# Generated from the code by `mhi package --tfvars` into functions.auto.tfvars.json: do not set
# these by hand. tests/deploy checks the committed file is up to date.
# ---------------------------------------------------------------------------------------------

variable "controller_topic" {
  description = "Topic that starts flows (shared/mhi/constants.py CONTROLLER_TOPIC)."
  type        = string
}

variable "callback_topic" {
  description = "Topic steps report to (shared/mhi/constants.py CALLBACK_TOPIC)."
  type        = string
}

variable "step_topics" {
  description = "Every step type of shared/mhi/catalog.py: one topic each."
  type        = list(string)
}

variable "runtime" {
  description = "Cloud Functions runtime."
  type        = string
}

variable "layers" {
  description = "Warehouse layers: one BigQuery dataset per account and layer."
  type        = list(string)
}

variable "functions" {
  description = "Every Cloud Function, by folder name under functions/."
  type = map(object({
    function_id        = string
    service_account_id = string
    entry_point        = string
    memory             = string
    cpu                = string
    timeout_seconds    = number
    max_instances      = number
    trigger_topics     = list(string)
    publishes          = list(string)
    secrets            = list(string)
    flows_bucket       = bool
    raw_bucket         = bool
    bigquery_read      = list(string)
    bigquery_write     = list(string)
    http               = bool
  }))
}

variable "api_invokers" {
  description = "Who may call the HTTP API (function `api`, and the console it serves): IAM members such as group:data-team@example.com. Empty: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.api_invokers : can(regex("^(group|user|serviceAccount|domain):", m))])
    error_message = "Each api_invokers entry must be an IAM member: group:..., user:..., serviceAccount:... or domain:...."
  }
}

variable "scheduled_flows" {
  description = "Every flow in flows/ with a schedule, by flow_id; `message` is the JSON the job publishes."
  type = map(object({
    account   = string
    cron      = string
    time_zone = string
    message   = string
  }))
  default = {}
}
