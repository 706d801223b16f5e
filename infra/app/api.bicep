// The function app on a Flex Consumption (FC1) plan, Python 3.11, running as the user-assigned identity.
// Flex specifics: the runtime, scale and deployment source live in functionAppConfig, not in app settings
// (no FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE or
// WEBSITE_CONTENT* settings on Flex); the package is deployed to a blob container read with the identity.
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}

@description('User-assigned managed identity the app runs as.')
param identityName string
param storageAccountName string
@description('Blob container in storageAccountName that holds the deployment package.')
param deploymentContainerName string
param applicationInsightsName string

// Names the code reads from settings; main.bicep passes the same names to the storage module, which
// creates the queues and the table.
param leadQueueName string
param outcomeQueueName string
param emailQueueName string
param stateTableName string
@description('Blob container of the email outbox (EMAIL_TRANSPORT=storage).')
param outboxContainerName string
@description('The Key Vault holding the app\'s secrets (referenced by app settings through the identity).')
param keyVaultName string
@description('none or dataverse (shared/config.py SALES_MODE); the embedded Sales is instance-local and refused in Azure.')
@allowed([
  'none'
  'dataverse'
])
param salesMode string = 'none'
@description('Dynamics 365 Sales organization URL (SALES_MODE=dataverse); empty otherwise.')
param dataverseUrl string = ''
@description('Bearer tokens of the partner routes: issuer, audience and JWKS URL (all empty: partner routes off).')
param partnerTokenIssuer string = ''
param partnerTokenAudience string = ''
param partnerTokenJwksUrl string = ''
@description('The claim naming the account bound to a partner user (sub or oid), and how the issuer vouches for the binding email.')
param partnerTokenSubjectClaim string = 'sub'
param partnerTokenEmailTrust string = 'email_verified,emails_claim'
@description('The partner portal\'s OpenID Connect sign-in (GET /api/portal): the issuer\'s authority (discovery at <authority>/.well-known/openid-configuration), the portal\'s client id, and the partner API\'s scope (empty: the ID token, whose audience is the client id, goes to the partner services). All empty: the portal is off.')
param portalOidcAuthority string = ''
param portalClientId string = ''
param portalApiScope string = ''

@description('The merchant\'s notice of new partner requests (OPERATOR_EMAIL, OPERATOR_NOTICE) and RETENTION_DAYS: see main.bicep.')
param operatorEmail string = ''
param operatorNotice string = ''
param retentionDays string = '90'

param storeName string = 'Contoso B2B'
@description('Storefront link used in emails. Empty: the app\'s own onboarding form, https://<app>.azurewebsites.net/api/signup.')
param storeUrl string = ''
@description('Where the app\'s routes are reached from outside (a custom domain, a front door), e.g. https://b2b.contoso.com: the start of the links it hands out (status_url, Location). Empty: https://<the app\'s default host name>, from WEBSITE_HOSTNAME.')
param publicBaseUrl string = ''
@description('The storefront\'s branding, every channel\'s default (shared/config.py): logo (https), accent colour (#rrggbb), privacy policy (https; empty: no consent box), support email, where approved partners sign in (empty: the app\'s own /api/portal), the time zone its pages show times in.')
param logoUrl string = ''
param accentColor string = '#0b5cad'
param privacyPolicyUrl string = ''
param supportEmail string = ''
param signInUrl string = ''
param storeTimeZone string = 'UTC'
@description('Per channel id, a JSON object of the branding that differs, e.g. {"nordic-web": {"store_name": "Contoso Norden"}}.')
param channels string = ''
@description('Send the "we received your request" email at intake.')
@allowed(['true', 'false'])
param sendReceivedEmail string = 'true'
@description('The time zone (IANA) whose calendar months a partner\'s users\' monthly limits run by, for a partner without one of its own.')
param partnerTimeZone string = 'UTC'
@description('Days (1 to 365) after which an order submitted for approval expires undecided.')
param approvalExpiryDays string = '7'
param emailSenderName string = 'Contoso B2B'
param emailSenderAddress string = 'no-reply@contoso.example'

@description('storage, smtp or ses (shared/config.py EMAIL_TRANSPORT); smtp needs smtpHost, ses needs sesRegion. The .eml outbox is instance-local and refused in Azure.')
@allowed([
  'storage'
  'smtp'
  'ses'
])
param emailTransport string = 'storage'
param smtpHost string = ''
param smtpPort string = '587'
param smtpUsername string = ''
@description('The Key Vault secret holding the SMTP password; empty when none was given (SMTP_PASSWORD is then empty too).')
param smtpPasswordSecretName string = ''
@description('Amazon SES region (EMAIL_TRANSPORT=ses); AWS credentials come from boto3\'s own chain.')
param sesRegion string = ''
@description('The intake\'s CAPTCHA provider (turnstile, hcaptcha, recaptcha) or empty: none.')
param captchaProvider string = ''
param captchaSiteKey string = ''
@description('The Key Vault secret holding the CAPTCHA secret key; empty when none was given (CAPTCHA_SECRET is then empty too).')
param captchaSecretName string = ''
param captchaFailOpen string = 'false'
@description('Where the client\'s address is read for the intake\'s rate limits (X-Forwarded-For, or X-Azure-ClientIP behind Front Door).')
param clientIpHeader string = 'X-Forwarded-For'

@description('REQUIRE_EMAIL_CONFIRMATION: requests wait for their requester to confirm the email (double opt-in).')
@allowed(['true', 'false'])
param requireEmailConfirmation string = 'true'
param signupLinkHours string = '48'
@description('The Key Vault secret signing the confirmation links; empty when none was given (SIGNUP_LINK_SECRET is then empty too).')
param signupLinkSecretName string = ''

@description('The app roles the console requires of a signed-in clerk: to act, and to read.')
param consoleOperatorRole string = 'B2B.Operator'
param consoleViewerRole string = 'B2B.Viewer'

@description('Client id of the console\'s Microsoft Entra app registration. Empty: no App Service Authentication is configured, and the console refuses everyone.')
param consoleClientId string = ''

@secure()
@description('Value of the host key `backoffice`, the back office automation\'s key (instead of the master key).')
param backofficeKey string

@description('Upper bound of instances the app scales out to (Flex Consumption accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy is offered only in some regions; set zoneRedundant for production where it is.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:The storefront form and the signup API are public HTTP endpoints by design.
  // checkov:skip=CKV_AZURE_17:Browsers posting the public signup form carry no client certificates.
  // checkov:skip=CKV_AZURE_212:Flex Consumption has no worker count; instances scale per function from zero (functionAppConfig.scaleAndConcurrency).
  // checkov:skip=CKV_AZURE_78:Flex Consumption rejects siteConfig.ftpsState (ARM 51021) and has no FTP endpoint; FTP basic-auth publishing is off as well (the ftp publishing-credentials policy below).
  // checkov:skip=CKV_AZURE_213:Flex Consumption adds and removes instances itself, from zero; the app's health check reports its dependencies (storage, Sales, email), so as an instance probe it would take every instance out when one dependency is down.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      // Flex Consumption rejects FTPS settings (and alwaysOn, 32-bit workers, *FxVersion …: the list is in
      // tests/infra/test_flex_rules.py with Microsoft's page); it has no FTP endpoint at all.
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      // Every app setting, in one place; tests/infra/test_app_settings.py compares the names with what
      // shared/config.py reads. There is deliberately no `AzureWebJobsStorage` connection string: the
      // storage account refuses shared keys, so the host and the code both use AzureWebJobsStorage__*.
      appSettings: [
        // Functions host storage, and the Azure backend's queue and table clients, over the identity.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        // Telemetry with Entra ID authentication (the component has local auth disabled).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        // The app's own settings (shared/config.py).
        {
          name: 'STATE_BACKEND'
          value: 'azure'
        }
        {
          name: 'STATE_TABLE'
          value: stateTableName
        }
        {
          name: 'SALES_MODE'
          value: salesMode
        }
        {
          name: 'EMAIL_TRANSPORT'
          value: emailTransport
        }
        // Emails kept in Blob storage (EMAIL_TRANSPORT=storage, over the identity and the blob URI above),
        // until SMTP or SES is configured.
        {
          name: 'EMAIL_OUTBOX_CONTAINER'
          value: outboxContainerName
        }
        // The intake's defenses (shared/services/intake_guard.py). The front end appends the connection's
        // address to X-Forwarded-For: the rightmost entry (1 hop) is the client; behind Front Door, read
        // X-Azure-ClientIP instead. Rate limits count in the state table, so they hold across instances.
        {
          name: 'INTAKE_MIN_FILL_SECONDS'
          value: '3'
        }
        {
          name: 'INTAKE_RATE_LIMIT_PER_MINUTE'
          value: '30'
        }
        {
          name: 'INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR'
          value: '30'
        }
        {
          name: 'CLIENT_IP_HEADER'
          value: clientIpHeader
        }
        {
          name: 'CLIENT_IP_PROXY_HOPS'
          value: '1'
        }
        {
          name: 'CAPTCHA_PROVIDER'
          value: captchaProvider
        }
        {
          name: 'CAPTCHA_SITE_KEY'
          value: captchaSiteKey
        }
        // A Key Vault reference (as SMTP_PASSWORD), only when main.bicep created the secret.
        {
          name: 'CAPTCHA_SECRET'
          value: empty(captchaSecretName) ? '' : '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${captchaSecretName})'
        }
        {
          name: 'CAPTCHA_FAIL_OPEN'
          value: captchaFailOpen
        }
        {
          name: 'CAPTCHA_TIMEOUT_SECONDS'
          value: '5'
        }
        {
          name: 'RECAPTCHA_MIN_SCORE'
          value: '0.5'
        }
        // The deployed package is read-only; /tmp is the writable, per-instance, ephemeral disk. None of the
        // modes offered here keeps anything there (instance-local state is what Azure refuses).
        {
          name: 'DATA_DIR'
          value: '/tmp/b2b'
        }
        {
          name: 'LEAD_QUEUE'
          value: leadQueueName
        }
        {
          name: 'OUTCOME_QUEUE'
          value: outcomeQueueName
        }
        {
          name: 'EMAIL_QUEUE'
          value: emailQueueName
        }
        {
          name: 'CHANNEL_SYNC_SCHEDULE'
          value: '0 * * * * *'
        }
        {
          name: 'SYNC_BATCH_SIZE'
          value: '200'
        }
        {
          name: 'STORE_NAME'
          value: storeName
        }
        {
          name: 'STORE_URL'
          value: empty(storeUrl) ? 'https://${name}.azurewebsites.net/api/signup' : storeUrl
        }
        {
          name: 'LOGO_URL'
          value: logoUrl
        }
        {
          name: 'ACCENT_COLOR'
          value: accentColor
        }
        {
          name: 'PRIVACY_POLICY_URL'
          value: privacyPolicyUrl
        }
        {
          name: 'SUPPORT_EMAIL'
          value: supportEmail
        }
        {
          name: 'SIGN_IN_URL'
          value: signInUrl
        }
        {
          name: 'STORE_TIME_ZONE'
          value: storeTimeZone
        }
        {
          name: 'CHANNELS'
          value: channels
        }
        {
          name: 'SEND_RECEIVED_EMAIL'
          value: sendReceivedEmail
        }
        // Double opt-in (issue 11): on in Azure; the links are signed with a secret azd keeps in Key Vault.
        {
          name: 'REQUIRE_EMAIL_CONFIRMATION'
          value: requireEmailConfirmation
        }
        {
          name: 'SIGNUP_LINK_HOURS'
          value: signupLinkHours
        }
        {
          name: 'SIGNUP_LINK_SECRET'
          value: empty(signupLinkSecretName) ? '' : '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${signupLinkSecretName})'
        }
        {
          name: 'PARTNER_TIME_ZONE'
          value: partnerTimeZone
        }
        {
          name: 'APPROVAL_EXPIRY_DAYS'
          value: approvalExpiryDays
        }
        {
          name: 'EMAIL_SENDER_NAME'
          value: emailSenderName
        }
        {
          name: 'EMAIL_SENDER_ADDRESS'
          value: emailSenderAddress
        }
        {
          name: 'EMAIL_MAX_ATTEMPTS'
          value: '8'
        }
        // An operator's folder of <template>.<language>.html files overriding the shipped ones; empty: none.
        {
          name: 'EMAIL_TEMPLATES_DIR'
          value: ''
        }
        {
          name: 'LOG_LEVEL'
          value: 'INFO'
        }
        // Empty: the app derives https://<host> from WEBSITE_HOSTNAME, which the platform sets to the app's real
        // default host name (a Flex Consumption app's may carry a unique suffix, not just <name>.azurewebsites.net).
        {
          name: 'PUBLIC_BASE_URL'
          value: publicBaseUrl
        }
        // SALES_MODE=dataverse: the organization URL, and the identity registered there as application user.
        {
          name: 'DATAVERSE_URL'
          value: dataverseUrl
        }
        {
          name: 'DATAVERSE_CLIENT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'DATAVERSE_PROSPECT_NUMBER_COLUMN'
          value: 'cr_b2bprospectnumber'
        }
        // Which function consumes the lead queue: with Dataverse the timer create_lead_batches drains it in
        // batches (one $batch per batch of leads) and the per-message queue trigger create_lead is disabled;
        // otherwise the other way round (the host's documented AzureWebJobs.<function>.Disabled switch).
        {
          name: 'LEAD_BATCH_SCHEDULE'
          value: '*/10 * * * * *'
        }
        {
          name: 'LEAD_BATCH_SIZE'
          value: '100'
        }
        // Retention: the timer erases the personal data RETENTION_DAYS says was kept long enough (02:30 UTC).
        {
          name: 'RETENTION_DAYS'
          value: retentionDays
        }
        {
          name: 'RETENTION_SCHEDULE'
          value: '0 30 2 * * *'
        }
        // The merchant's notice of new partner requests; the daily digest at 07:00 UTC (OPERATOR_NOTICE=daily).
        {
          name: 'OPERATOR_EMAIL'
          value: operatorEmail
        }
        {
          name: 'OPERATOR_NOTICE'
          value: operatorNotice
        }
        {
          name: 'OPERATOR_LANGUAGE'
          value: 'en'
        }
        {
          name: 'OPERATOR_DIGEST_SCHEDULE'
          value: '0 0 7 * * *'
        }
        // The time a Dataverse webhook request may take (Dataverse waits 60 s, retries only 502/503/504).
        {
          name: 'SALES_WEBHOOK_BUDGET_SECONDS'
          value: '20'
        }
        {
          name: 'AzureWebJobs.create_lead.Disabled'
          value: salesMode == 'dataverse' ? 'true' : 'false'
        }
        {
          name: 'AzureWebJobs.create_lead_batches.Disabled'
          value: salesMode == 'dataverse' ? 'false' : 'true'
        }
        // EMAIL_TRANSPORT=smtp or ses; empty until chosen.
        {
          name: 'SMTP_HOST'
          value: smtpHost
        }
        {
          name: 'SMTP_PORT'
          value: smtpPort
        }
        {
          name: 'SMTP_USERNAME'
          value: smtpUsername
        }
        // A Key Vault reference, resolved with the app's identity: the password is never in a setting. Only
        // when main.bicep created the secret (azd env SMTP_PASSWORD): a reference to a missing secret does
        // not resolve, and the app would receive the reference's own text as the password.
        {
          name: 'SMTP_PASSWORD'
          value: empty(smtpPasswordSecretName) ? '' : '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${smtpPasswordSecretName})'
        }
        {
          name: 'SMTP_STARTTLS'
          value: 'true'
        }
        {
          name: 'SMTP_TIMEOUT_SECONDS'
          value: '30'
        }
        {
          name: 'SES_REGION'
          value: sesRegion
        }
        {
          name: 'SES_CONFIGURATION_SET'
          value: ''
        }
        // The console (issue 9): the app roles a signed-in clerk needs, read from X-MS-CLIENT-PRINCIPAL.
        {
          name: 'CONSOLE_OPERATOR_ROLE'
          value: consoleOperatorRole
        }
        {
          name: 'CONSOLE_VIEWER_ROLE'
          value: consoleViewerRole
        }
        // Console sign-in redeems Entra ID's code with this identity as the registration's federated
        // credential, not a client secret (app/console-signin.bicep's clientSecretSettingName).
        {
          name: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
          value: identity.properties.clientId
        }
        // Partner routes accept RS256 bearer tokens of this issuer and audience, keys from its JWKS; empty: off.
        {
          name: 'PARTNER_TOKEN_ISSUER'
          value: partnerTokenIssuer
        }
        {
          name: 'PARTNER_TOKEN_AUDIENCE'
          value: partnerTokenAudience
        }
        {
          name: 'PARTNER_TOKEN_JWKS_URL'
          value: partnerTokenJwksUrl
        }
        {
          name: 'PARTNER_TOKEN_SUBJECT_CLAIM'
          value: partnerTokenSubjectClaim
        }
        {
          name: 'PARTNER_TOKEN_EMAIL_TRUST'
          value: partnerTokenEmailTrust
        }
        // The partner portal: its app registration (redirect URI <public base>/api/portal/callback). Its client
        // secret and PORTAL_SESSION_SECRET (32+ random characters) are not set here: add them by hand as Key
        // Vault references once the secrets exist; until then the portal answers 503.
        {
          name: 'PORTAL_OIDC_AUTHORITY'
          value: portalOidcAuthority
        }
        {
          name: 'PORTAL_CLIENT_ID'
          value: portalClientId
        }
        {
          name: 'PORTAL_API_SCOPE'
          value: portalApiScope
        }
        // The development issuer is for a developer's machine only (the app refuses it in Azure anyway).
        {
          name: 'LOCAL_ISSUER'
          value: 'false'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments (azd, Core Tools) authenticate with Entra ID; no FTP or SCM basic-auth credentials. The type's
// definition has no location, yet ARM refuses these policies without one ("The parameter location has an
// invalid value", https://github.com/Azure/bicep-types-az/issues/1317): Bicep warns (BCP187), ARM deploys.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  location: location
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  location: location
  properties: {
    allow: false
  }
}

// The back office's JSON routes take this host key (any host key passes a function-level route); the
// master key stays with the platform. Value: `az functionapp keys list … --query functionKeys.backoffice`.
resource host 'Microsoft.Web/sites/host@2024-04-01' existing = {
  parent: functionApp
  name: 'default'
}

resource backofficeHostKey 'Microsoft.Web/sites/host/functionKeys@2024-04-01' = {
  parent: host
  name: 'backoffice'
  properties: {
    name: 'backoffice'
    value: backofficeKey
  }
}

// A module rather than a conditional resource: checkov misreads the body of `resource … = if (…)`.
module consoleSignIn 'console-signin.bicep' = if (!empty(consoleClientId)) {
  name: 'console-signin'
  params: {
    appName: functionApp.name
    clientId: consoleClientId
    identityClientIdSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
  }
}

output name string = functionApp.name
output id string = functionApp.id
output uri string = 'https://${functionApp.properties.defaultHostName}'
