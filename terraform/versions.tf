terraform {
  required_version = ">= 1.9" # cross-variable validation

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    # Only for Secret Manager's service identity, when its secrets use a customer-managed key.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.0, < 8.0"
    }
  }

  # State lives in a bucket the team creates once (see README, "Deploy"):
  #   terraform init -backend-config="bucket=<project>-tfstate" -backend-config="prefix=mhi/<env>"
  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region

  default_labels = {
    app = "mhi-workflow-orchestrator"
    env = var.env == "" ? "default" : var.env
  }
}

provider "google-beta" {
  project = var.project
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project
}
