# The identity of the deploy pipeline (cloudbuild/deploy.yaml): it deploys function code and
# uploads flows, nothing else. The terraform pipeline runs as var.terraform_service_account.
resource "google_service_account" "deployer" {
  account_id   = "mhi-deployer${local.suffix}"
  display_name = "MHI deploy pipeline"
  description  = "Cloud Build: tests, packages and deploys function code; uploads flows/"
}

resource "google_project_iam_member" "deployer" {
  for_each = toset([
    "roles/cloudfunctions.developer",
    "roles/logging.logWriter",
  ])

  project = var.project
  role    = each.value
  member  = google_service_account.deployer.member
}

# Deploying a function means acting as its runtime service account, and only those.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = var.functions

  service_account_id = google_service_account.fn[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

resource "google_storage_bucket_iam_member" "deployer_flows" {
  bucket = google_storage_bucket.flows.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.deployer.member
}

resource "google_cloudbuild_trigger" "deploy" {
  count = var.github == null ? 0 : 1

  name            = "mhi-deploy${local.suffix}"
  location        = "global" # GitHub App (1st gen) connections are global
  description     = "Test, package and deploy the changed functions; upload flows/"
  filename        = "cloudbuild/deploy.yaml"
  service_account = google_service_account.deployer.id

  github {
    owner = var.github.owner
    name  = var.github.name
    push {
      branch = var.github.branch
    }
  }

  substitutions = {
    _REGION       = var.region
    _ENV          = var.env
    _FLOWS_BUCKET = google_storage_bucket.flows.name
  }
}

resource "google_cloudbuild_trigger" "terraform" {
  count = var.github == null || var.terraform_service_account == "" ? 0 : 1

  name            = "mhi-terraform${local.suffix}"
  location        = "global"
  description     = "terraform plan, then apply on main (changes under terraform/ or flows/)"
  filename        = "cloudbuild/terraform.yaml"
  service_account = "projects/${var.project}/serviceAccounts/${var.terraform_service_account}"
  included_files  = ["terraform/**", "flows/**", "shared/mhi/catalog.py"]

  github {
    owner = var.github.owner
    name  = var.github.name
    push {
      branch = var.github.branch
    }
  }

  substitutions = {
    _REGION       = var.region
    _ENV          = var.env
    _STATE_BUCKET = "${var.project}-tfstate"
    _APPLY        = "true"
  }
}
