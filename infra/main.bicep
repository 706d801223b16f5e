// B2B partner onboarding on Azure Functions Flex Consumption, laid out for the Azure Developer CLI
// (`azd up`). Everything is keyless: the function app reaches Storage, Application Insights and Key Vault
// with one user-assigned managed identity; the storage account does not accept shared keys at all.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource. Flex Consumption runs in a subset of regions: these are the ones the official Flex azd quickstart allows; `az functionapp list-flexconsumption-locations --query "[].name" -o tsv` lists today\'s (add a region here once it is listed).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person or service principal running azd; gets data access to the queues, tables and Key Vault for operating and debugging. Empty: no access granted.')
param principalId string = ''

@allowed([
  ''
  'User'
  'ServicePrincipal'
])
@description('Kind of principal that principalId names. azd 1.17.1 and later fill it (User or ServicePrincipal, by how azd is signed in); empty (an older azd): the role assignments omit it and ARM looks the principal up.')
param principalType string = ''

@description('Optional resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

// Only the modes that work on Flex Consumption, where each function scales out on instances of its own and
// nothing but storage is shared: the embedded Sales and the .eml outbox (instance-local files) are for
// `make run`, and the app refuses them in Azure.
@description('Where leads go and decisions come from: none (a clerk decides in the back office; no outside account) or dataverse (Dynamics 365 Sales at dataverseUrl).')
@allowed([
  'none'
  'dataverse'
])
param salesMode string = 'none'

@description('The merchant\'s "new partner request" notice: one or more addresses (comma separated; empty: none), and each (an email per request), daily (one digest a day) or off; empty: each when an address is set.')
param operatorEmail string = ''
@allowed([
  ''
  'each'
  'daily'
  'off'
])
param operatorNotice string = ''

@description('Days the personal data of rejected requests (and of requests that never became a prospect) is kept before the retention timer erases it; 0 keeps it forever.')
param retentionDays string = '90'

@description('Dynamics 365 Sales organization URL, e.g. https://contoso.crm4.dynamics.com (SALES_MODE=dataverse).')
param dataverseUrl string = ''

@description('Issuer (iss) of the bearer tokens partner routes accept, e.g. https://<tenant>.ciamlogin.com/<tenant-id>/v2.0. Empty, with the audience and JWKS URL: partner routes are off.')
param partnerTokenIssuer string = ''

@description('Audience (aud) those tokens must name: the client id or App ID URI of the API registration.')
param partnerTokenAudience string = ''

@description('https URL of the issuer\'s signing keys (JWKS), e.g. https://<tenant>.ciamlogin.com/<tenant-id>/discovery/v2.0/keys.')
param partnerTokenJwksUrl string = ''

@description('The token claim that names the account bound to a partner user at its first sign-in: sub (External ID / B2C) or oid (the object id in the tenant).')
@allowed([
  'sub'
  'oid'
])
param partnerTokenSubjectClaim string = 'sub'

@description('How the issuer vouches for the email that binds an account at its first sign-in, comma separated: email_verified, emails_claim (a local account\'s emails claim).')
param partnerTokenEmailTrust string = 'email_verified,emails_claim'

@description('The partner portal\'s sign-in: the OpenID Connect authority (External ID: https://<tenant>.ciamlogin.com/<tenant-id>/v2.0), the portal\'s client id and the partner API\'s scope. Empty: the portal is off.')
param portalOidcAuthority string = ''
param portalClientId string = ''
param portalApiScope string = ''

@description('How emails go out: storage (kept as blobs in the storage account\'s b2b-outbox container, read in the back office and with `b2b outbox`; no outside account), smtp (smtpHost …) or ses (sesRegion).')
@allowed([
  'storage'
  'smtp'
  'ses'
])
param emailTransport string = 'storage'

@description('SMTP server (EMAIL_TRANSPORT=smtp), e.g. smtp.office365.com; STARTTLS on smtpPort.')
param smtpHost string = ''

@description('SMTP port (a string: it becomes an app setting as it is).')
param smtpPort string = '587'

@description('SMTP login user; empty: no login.')
param smtpUsername string = ''

@secure()
@description('SMTP login password, stored in Key Vault as smtp-password, which the app setting SMTP_PASSWORD then references. Empty: no secret and no reference (SMTP_PASSWORD is empty); to add one later, `azd env set SMTP_PASSWORD …` and `azd provision`.')
param smtpPassword string = ''

@description('Amazon SES region (EMAIL_TRANSPORT=ses), e.g. eu-north-1; AWS credentials come from boto3\'s own chain.')
param sesRegion string = ''

@description('The intake\'s optional CAPTCHA (CAPTCHA_PROVIDER): turnstile, hcaptcha or recaptcha; empty: none.')
@allowed([
  ''
  'turnstile'
  'hcaptcha'
  'recaptcha'
])
param captchaProvider string = ''

@description('The CAPTCHA provider\'s site key (public: the form page carries it).')
param captchaSiteKey string = ''

@secure()
@description('The CAPTCHA provider\'s secret key, stored in Key Vault as captcha-secret, which the app setting CAPTCHA_SECRET then references. Empty: no secret and no reference.')
param captchaSecret string = ''

@description('With a CAPTCHA: let requests in when the provider cannot be reached (true) or refuse them (false, the default).')
@allowed([
  'true'
  'false'
])
param captchaFailOpen string = 'false'

@description('The header the client\'s address is read from for the intake\'s rate limits: X-Forwarded-For (the platform\'s front end appends the connection\'s address) or, behind Azure Front Door, X-Azure-ClientIP.')
param clientIpHeader string = 'X-Forwarded-For'

@description('Ask each requester to confirm their email by a signed link before the request becomes a prospect (REQUIRE_EMAIL_CONFIRMATION, issue 11): on by default in Azure, where the storefront is on the public internet.')
@allowed(['true', 'false'])
param requireEmailConfirmation string = 'true'
@description('Hours a confirmation link works; unconfirmed requests are deleted then (SIGNUP_LINK_HOURS).')
param signupLinkHours string = '48'
@secure()
@description('Signs the confirmation links (SIGNUP_LINK_SECRET), kept in Key Vault as signup-link-secret. azd fills it with the vault\'s secret, or a new random one the first time (main.parameters.json: secretOrRandomPassword), so links survive a provision. Empty: no secret and no reference.')
param signupLinkSecret string = ''

// The back office's automation key: a Functions host key named `backoffice` (its routes take it instead of
// the master key). No default: azd generates it once, keeps it in .azure/<env>/config.json and passes the same
// value at every provision (a newGuid() default would change it each time); `azd env set BACKOFFICE_KEY …`
// replaces it. Read it with `az functionapp keys list -g <group> -n <app> --query functionKeys.backoffice`.
@secure()
@description('Value of the Functions host key `backoffice` that the back office\'s automation calls with.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param backofficeKey string

@description('Client id of the console\'s Microsoft Entra app registration (azd env CONSOLE_CLIENT_ID; infra/README.md creates it). Empty: no sign-in is configured and the console refuses everyone.')
param consoleClientId string = ''

@description('The console\'s app roles (issue 9): a signed-in clerk needs the operator role to act, the viewer role to read.')
param consoleOperatorRole string = 'B2B.Operator'
param consoleViewerRole string = 'B2B.Viewer'

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package'

// The queues and the table the app uses. One list, given both to the storage module (which creates them,
// each queue with its <name>-poison queue) and to the app settings (which name them to the code).
var appQueues = {
  lead: 'b2b-leads'
  outcome: 'b2b-sales-outcomes'
  email: 'b2b-emails'
}
var stateTableName = 'b2bstate'
// EMAIL_TRANSPORT=storage keeps each email as a blob here (created by the storage module, named to the code).
var outboxContainerName = 'b2b-outbox'

// The Key Vault secret the SMTP password is kept in. It exists only when a password is given, and only then
// does SMTP_PASSWORD reference it: a reference to a missing secret would hand the app its own text.
var smtpPasswordSecretName = 'smtp-password'
// The CAPTCHA provider's secret key, likewise: created and referenced only when given.
var captchaSecretName = 'captcha-secret'
// The confirmation links' signing secret (SIGNUP_LINK_SECRET), the same way: referenced only when it exists.
var signupLinkSecretName = 'signup-link-secret'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? '${abbrs.resourcesResourceGroups}${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    queueNames: [
      appQueues.lead
      appQueues.outcome
      appQueues.email
    ]
    tableNames: [
      stateTableName
    ]
    containerNames: [
      outboxContainerName
    ]
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    smtpPassword: smtpPassword
    smtpPasswordSecretName: smtpPasswordSecretName
    captchaSecret: captchaSecret
    captchaSecretName: captchaSecretName
    signupLinkSecret: signupLinkSecret
    signupLinkSecretName: signupLinkSecretName
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    principalId: principalId
    principalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    leadQueueName: appQueues.lead
    outcomeQueueName: appQueues.outcome
    emailQueueName: appQueues.email
    stateTableName: stateTableName
    outboxContainerName: outboxContainerName
    keyVaultName: keyVault.outputs.name
    salesMode: salesMode
    dataverseUrl: dataverseUrl
    partnerTokenIssuer: partnerTokenIssuer
    partnerTokenAudience: partnerTokenAudience
    partnerTokenJwksUrl: partnerTokenJwksUrl
    partnerTokenSubjectClaim: partnerTokenSubjectClaim
    partnerTokenEmailTrust: partnerTokenEmailTrust
    portalOidcAuthority: portalOidcAuthority
    portalClientId: portalClientId
    portalApiScope: portalApiScope
    emailTransport: emailTransport
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpPasswordSecretName: empty(smtpPassword) ? '' : smtpPasswordSecretName
    captchaProvider: captchaProvider
    captchaSiteKey: captchaSiteKey
    captchaSecretName: empty(captchaSecret) ? '' : captchaSecretName
    captchaFailOpen: captchaFailOpen
    clientIpHeader: clientIpHeader
    requireEmailConfirmation: requireEmailConfirmation
    signupLinkHours: signupLinkHours
    signupLinkSecretName: empty(signupLinkSecret) ? '' : signupLinkSecretName
    sesRegion: sesRegion
    consoleOperatorRole: consoleOperatorRole
    consoleViewerRole: consoleViewerRole
    backofficeKey: backofficeKey
    consoleClientId: consoleClientId
    operatorEmail: operatorEmail
    operatorNotice: operatorNotice
    retentionDays: retentionDays
  }
  // The host and the first deployment need their storage roles before the app starts.
  dependsOn: [
    rbac
  ]
}

// Outputs azd stores in the environment (.azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
// The subject of the console registration's federated credential (infra/README.md).
output AZURE_USER_ASSIGNED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
