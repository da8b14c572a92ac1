# Secret Manager containers, `<account>--<name>` (shared/mhi/adapters/local/env_secrets.py
# secret_id), for every account and every secret name a function reads. Values are never in
# terraform: add them with `gcloud secrets versions add` (README, "Add a secret").

locals {
  # What each function reads: the names found in its code, plus var.extra_secrets.
  function_secrets = {
    for fn, f in var.functions : fn => sort(distinct(concat(f.secrets, lookup(var.extra_secrets, fn, []))))
  }

  secret_names = sort(distinct(flatten(values(local.function_secrets))))

  secrets = {
    for pair in setproduct(var.accounts, local.secret_names) :
    "${pair[0]}--${pair[1]}" => { account = pair[0], name = pair[1] }
  }

  # A function may read exactly the secrets it names, for every account, and nothing else.
  secret_grants = merge([
    for fn, names in local.function_secrets : {
      for pair in setproduct(var.accounts, names) :
      "${fn}/${pair[0]}--${pair[1]}" => { function = fn, secret = "${pair[0]}--${pair[1]}" }
    }
  ]...)
}

resource "google_secret_manager_secret" "secret" {
  for_each = var.create_account_resources ? local.secrets : {}

  secret_id = each.key

  labels = {
    account = lower(replace(each.value.account, "_", "-"))
  }

  # Automatic replication unless a regional key asks for one replica in its region; the key, when
  # set, encrypts the payloads (kms.tf).
  replication {
    dynamic "auto" {
      for_each = local.secrets_replication == "auto" ? [local.kms_keys.secret_manager] : []
      content {
        dynamic "customer_managed_encryption" {
          for_each = auto.value == "" ? [] : [auto.value]
          content {
            kms_key_name = customer_managed_encryption.value
          }
        }
      }
    }

    dynamic "user_managed" {
      for_each = local.secrets_replication == "user_managed" ? [local.kms_keys.secret_manager] : []
      content {
        replicas {
          location = local.kms_secrets_location
          customer_managed_encryption {
            kms_key_name = user_managed.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.api, google_kms_crypto_key_iam_member.agent]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_grants

  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.fn[each.value.function].member

  depends_on = [google_secret_manager_secret.secret]
}
